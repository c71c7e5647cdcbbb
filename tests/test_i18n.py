"""Message catalogs: Spanish is complete, other languages fall back to it and gaps are listed."""
import json
import re
import subprocess
import sys

from turnero.i18n import LOCALE_DIR, catalog, messages, missing, plural, plural_language, translate
from turnero.wait_words import wait_words


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


def test_plural_forms_follow_the_count_and_fall_back_whole():
    assert plural("public.eta_about", 1, "es", n=1) == "Espera estimada: alrededor de 1 minuto"
    assert plural("public.eta_about", 7, "es", n=7) == "Espera estimada: unos 7 minutos"
    assert plural("public.eta_about", 1, "en", n=1) == "Estimated wait: about 1 minute"
    assert plural("public.eta_range", 1, "en", low=0, high=1) == "Estimated wait: between 0 and 1 minute"
    # Quechua has no catalog (nor plural rule) yet: the Spanish forms, chosen by the Spanish rule
    assert plural("public.eta_about", 1, "qu", n=1) == plural("public.eta_about", 1, "es", n=1)
    assert plural_language("qu") == "es" and plural_language("en") == "en"
    resolved = messages("qu", "public.")
    assert resolved["public.eta_about.one"] == catalog("es")["public.eta_about.one"]


def test_wait_words_say_the_range_in_plain_words():
    def words(minutes, low, high, language="es"):
        ticket = {"eta_minutes": minutes, "eta_range_minutes": None if low is None else {"low": low, "high": high}}
        return wait_words("public", ticket, language)

    assert words(None, None, None) == "Espera estimada: por confirmar"
    assert words(0, 0, 0) == translate("public.eta_soon")
    assert words(20, 15, 25) == "Espera estimada: entre 15 y 25 minutos"
    assert words(1, 1, 1) == "Espera estimada: alrededor de 1 minuto"
    assert words(3, 3, 3, "en") == "Estimated wait: about 3 minutes"
    assert wait_words("printer", {"eta_minutes": 20, "eta_range_minutes": {"low": 15, "high": 25}}, "es") \
        == "Espera estimada: entre 15 y 25 min"


def test_a_key_the_catalogs_lack_gives_the_default_as_given_else_the_key():
    from turnero.i18n import translate

    assert translate("admin.role_staff", default="staff") == "Personal"
    assert translate("admin.role_robot", default="robot {x}", x=1) == "robot {x}"
    assert translate("admin.role_robot") == "admin.role_robot"
