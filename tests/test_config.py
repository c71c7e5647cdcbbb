"""sede.toml validation: one line naming the file, the key and the problem; env overrides."""
import shutil
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from tests.conftest import SEDE_TOML, write_sede

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


def load_text(tmp_path, text, env=None):
    return load_settings(write_sede(tmp_path / "d", text), env or {})


def error_for(tmp_path, text, env=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, env)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", ["demo.sede.toml", "example.sede.toml"])
def test_shipped_files_load(tmp_path, name):
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    shutil.copy(CONFIG_DIR / name, data_dir / "sede.toml")
    settings = load_settings(data_dir, {})
    assert settings.sede["timezone"] == "America/Lima"
    assert settings.services and settings.counters


def test_test_sede_loads(tmp_path):
    settings = load_text(tmp_path, SEDE_TOML)
    assert list(settings.services) == ["ORI", "PEN", "VIC", "CON"]
    assert settings.services["VIC"].discreet
    assert settings.services["CON"].hours == ("08:00", "17:00")
    assert settings.counters["v1"].services == ("ORI", "PEN")


@pytest.mark.parametrize("change,expected", [
    (('prefix = "B"', 'prefix = "A"'), "services: duplicate prefix 'A' (ORI, PEN); only a discreet service"),
    (('code = "PEN"', 'code = "ORI"'), "services[1].code: duplicate service code"),
    (('target_wait_minutes = 20', 'target_wait_minutes = 20\ncolour = "red"'), "services[0].colour: unknown key"),
    (('target_wait_minutes = 20', 'target_wait_minutes = "veinte"'), "services[0].target_wait_minutes: expected int"),
    (('target_wait_minutes = 20', 'target_wait_minutes = 0'), "services[0].target_wait_minutes: must be between"),
    (('hours = "08:00-17:00"', 'hours = "17:00-08:00"'), "services[3].hours"),
    (('services = ["ORI", "PEN"]', 'services = ["ORI", "XXX"]'), "counters[0].services: unknown service 'XXX'"),
    (('timezone = "America/Lima"', 'timezone = "Mars/Olympus"'), "sede.timezone: unknown time zone"),
    (('languages = ["es", "qu", "en"]', 'languages = ["qu"]'), "sede.languages"),
    (('type = "none"', 'type = "laser"'), "printer.type: must be one of"),
    (('[printer]', '[printers]'), "[printers]: unknown table"),
    (('code = "TEST-01"\n', ''), "sede.code: required"),
])
def test_bad_values_name_file_and_key(tmp_path, change, expected):
    old, new = change
    assert old in SEDE_TOML
    message = error_for(tmp_path, SEDE_TOML.replace(old, new, 1))
    assert "sede.toml" in message
    assert expected in message


def test_not_toml(tmp_path):
    assert "not valid TOML" in error_for(tmp_path, "[sede\nname=")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "empty", {})


def test_environment_overrides(tmp_path):
    settings = load_text(tmp_path, SEDE_TOML, {
        "TURNERO_SYNC_CENTRAL_URL": "http://127.0.0.1:9999", "TURNERO_PRINTER_PORT": "9101",
        "TURNERO_VOICE_ENABLED": "false", "TURNERO_SEDE_LANGUAGES": "es,en", "TURNERO_DATA_DIR": "/ignored"})
    assert settings.sync["central_url"] == "http://127.0.0.1:9999"
    assert settings.printer["port"] == 9101
    assert settings.voice["enabled"] is False
    assert settings.sede["languages"] == ["es", "en"]


@pytest.mark.parametrize("env,expected", [
    ({"TURNERO_SYNC_NOPE": "1"}, "unknown key sync.nope"),
    ({"TURNERO_PRINTER_PORT": "ninety"}, "TURNERO_PRINTER_PORT: expected int"),
    ({"TURNERO_PRINTER_PORT": "70000"}, "printer.port: must be between"),
    ({"TURNERO_VOICE_ENABLED": "maybe"}, "expected bool"),
])
def test_bad_environment_overrides(tmp_path, env, expected):
    assert expected in error_for(tmp_path, SEDE_TOML, env)


def test_server_table_defaults_and_checks(tmp_path):
    server = load_text(tmp_path, SEDE_TOML).server
    assert server == {"workers": 1, "max_connections": 2000, "reserved_connections": 100,
                      "max_connections_per_address": 20, "header_timeout_seconds": 10, "body_timeout_seconds": 10}
    message = error_for(tmp_path, SEDE_TOML + "\n[server]\nmax_connections = 50\nreserved_connections = 50\n")
    assert "server.reserved_connections" in message and "less than server.max_connections" in message
    assert "server.workers" in error_for(tmp_path, SEDE_TOML + "\n[server]\nworkers = 0\n")
    assert "server.header_timeout_seconds" in error_for(tmp_path, SEDE_TOML + "\n[server]\nheader_timeout_seconds = 0\n")


def test_server_settings_are_changed_only_on_the_box():
    from config import box_only_changes

    assert box_only_changes("[server]\nworkers = 1\n", "[server]\nworkers = 2\n") == ["server.workers"]
    assert box_only_changes("", "[server]\nmax_connections = 10\n") == ["server.max_connections"]


@pytest.mark.parametrize("addition, expected", [
    ('\n[reports.matters]\n"PEN-01" = ""\n', 'reports.matters: PEN-01 debe tener un texto de 1 a 80 caracteres'),
    ('\n[reports.indicators.espera]\ncode = "IND-04"\n', 'reports.indicators: el indicador "espera" no se conoce'),
    ('\n[reports.indicators]\nmedian_wait = 3\n', 'reports.indicators: "median_wait" debe ser una sección'),
    ('\n[reports.indicators.median_wait]\nbaseline = "x"\n', 'en "median_wait.baseline" solo valen code'),
])
def test_the_report_tables_problems_are_explained_in_spanish(tmp_path, addition, expected):
    """Each check of [reports] matters and indicators has its own Spanish words on the admin page
    (not the catalog key, not the English line)."""
    from admin.views import explain_config_error

    text = SEDE_TOML + addition
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    problem, line = explain_config_error(info.value, text)
    assert expected in problem and "admin.config_" not in problem
    assert line is not None
