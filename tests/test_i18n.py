"""Message catalogs: Spanish is complete, other languages fall back to it and gaps are listed."""
import json
import re
import subprocess
import sys

from turnero.i18n import LOCALE_DIR, catalog, messages, missing, translate


def test_spanish_is_the_fallback():
    assert translate("common.offline", "qu") == translate("common.offline", "es") == "Sin conexión"
    assert translate("common.offline", "en") == "Offline"
    assert translate("no.such.key", "en") == "no.such.key"


def test_messages_resolve_every_spanish_key():
    resolved = messages("shp", "common.")
    assert set(resolved) == {key for key in catalog("es") if key.startswith("common.")}


def test_no_language_has_keys_spanish_lacks():
    spanish = set(catalog("es"))
    for folder in LOCALE_DIR.iterdir():
        if folder.is_dir() and folder.name != "es":
            extra = set(catalog(folder.name)) - spanish
            assert not extra, (folder.name, sorted(extra)[:5])


def test_catalogs_are_valid_json_with_matching_placeholders():
    spanish = catalog("es")
    for path in LOCALE_DIR.glob("*/*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        for key, text in data.items():
            assert isinstance(text, str) and text.strip(), (path, key)
            if key in spanish:
                assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", spanish[key])), (path, key)


def test_check_command_lists_missing_strings():
    result = subprocess.run([sys.executable, "-m", "turnero.cli", "i18n-check", "--languages", "qu", "-v"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "shown in Spanish" in result.stdout
    for key in missing(["qu"])["qu"][:3]:
        assert key in result.stdout
    strict = subprocess.run([sys.executable, "-m", "turnero.cli", "i18n-check", "--languages", "qu", "--strict"],
                            capture_output=True, text=True, timeout=60)
    assert strict.returncode == (1 if missing(["qu"])["qu"] else 0)
