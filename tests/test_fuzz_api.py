"""Fuzz the JSON API from its own OpenAPI description (schemathesis, in-process over WSGI).

Every operation of /api/v1/openapi.json gets generated requests, valid and invalid, sent with the
token of a role it allows, of one it does not, or none. Valid cases also get real ids (tickets in
every state, counters, services) and hostile text, so requests reach the state machine and the
database. Checks: never a 5xx; every error is JSON ``{"error": {"code", "message"}}``; the status is
one the document lists and the body matches its schema; invalid input is refused with a 4xx.
Afterwards the database is intact and the event ``seq`` has no gap.

The regression tests below pin what the fuzzer (and reading around what it found) turned up.
"""
from __future__ import annotations

import collections
import json
import re
import secrets

import schemathesis
from hypothesis import given, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from tests.conftest import PASSWORD, USERS, error_code
from turnero.accounts import ROLE_GRANTS, token_hash

# The role of each fixture token (tests/conftest.py: USERS and the devices of ``tokens``).
TOKEN_ROLES = {"ana": "staff", "sofia": "supervisor", "root": "admin", "kiosk": "kiosk", "display": "display",
               "display_vic": "display"}
# Not positive_data_acceptance: a schema-valid request may rightly get 404 (no such id), 409 (state)
# or 422 (no such service) - the document cannot list a sede's services or the ids in its database.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
MAX_EXAMPLES = 40  # per operation and mode: about 2,500 requests, some 20 s of CPU
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None)
REAL_VALUES = {"counter": ["v1", "v2", "c1"], "language": ["es", "qu", "en"], "result": ["PEN-01"],
               "username": ["ana", "sofia"], "password": [PASSWORD], "type": ["DNI"], "number": ["12345678"],
               "check": ["1"], "outcome": ["resolved"], "reason": ["almuerzo"]}
# Path segments: "²" and an Arabic-Indic one (digits to str.isdigit()), NUL, invalid UTF-8, an
# encoded slash, a number past 64 bits, a long id.
PATH_SEGMENTS = ["%C2%B2", "%D9%A1", "%00", "%ED%A0%80", "%2F", "-1", "9" * 30, "x" * 2000]
# Text a JSON client can send: a lone surrogate (valid JSON escape, not UTF-8), NUL, a digit that
# str.isdigit() accepts and int() refuses, digits of another script, a text over every limit.
HOSTILE = ["\ud800", "a\x00b", "\u00b2", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", "\u00f1" * 3000]




def roles_of(operation) -> list[str]:
    description = operation.definition.raw.get("description", "")
    if not description.startswith("Roles: "):
        return []
    return [role.strip() for role in description[len("Roles: "):].rstrip(".").split(",")]


def seed(engine) -> dict:
    """Free every counter, then leave real tickets in each state; returns real values by name."""
    for counter in engine.counters():
        held = counter["ticket"]
        if held is not None:
            # sofia acts as the supervisor she is: the ticket may be held by someone else.
            if held["status"] == "serving":
                engine.finish(held["id"], "sofia", "resolved", supervisor=True)
            else:
                engine.cancel(held["id"], "sofia", supervisor=True)
        if counter["state"] != "closed":
            engine.close_counter(counter["id"], "sofia", supervisor=True)

    def issue(service, **kwargs):
        return engine.issue(service, channel="staff", **kwargs)[0]

    waiting = [issue("ORI"), issue("PEN", priority="gestante"), issue("VIC")]
    called, serving = issue("PEN"), issue("ORI")
    engine.call(called["id"], "v1", "ana")  # ana holds v1 with a called ticket
    engine.call(serving["id"], "v2", "beto")
    engine.start(serving["id"], "beto")  # beto serves at v2
    done, no_show, cancelled = issue("ORI"), issue("ORI"), issue("PEN")
    engine.call(done["id"], "c1", "sofia")
    engine.start(done["id"], "sofia")
    engine.finish(done["id"], "sofia", "resolved")
    engine.call(no_show["id"], "c1", "sofia")
    engine.no_show(no_show["id"], "sofia")
    engine.cancel(cancelled["id"], "sofia")
    engine.close_counter("c1", "sofia")
    tickets = waiting + [called, serving, done, no_show, cancelled]
    return {"ticket_id": [t["id"] for t in tickets], "public_id": [t["public_id"] for t in tickets],
            "counter_id": list(engine.settings.counters), "service": list(engine.settings.services),
            "status": ["waiting", "no_show,cancelled", "done"],
            "seq": [str(seq) for seq in range(max(1, engine.last_seq() - 20), engine.last_seq() + 1)]}


def realistic(data, case, real: dict):
    """Valid cases only: as generated, with real values (ids that exist, a service the sede offers,
    no unknown appointment), or real values plus one hostile text."""
    for name, value in (case.path_parameters or {}).items():
        if name in real:
            case.path_parameters[name] = data.draw(st.one_of(st.sampled_from(real[name]), st.just(value)))
    # Hypothesis favours the first choice: real values, which get furthest into the engine.
    flavour = data.draw(st.sampled_from(["real", "hostile", "generated"]))
    if flavour == "generated":
        return
    if isinstance(case.query, dict):
        for name in ("service", "status"):
            if isinstance(case.query.get(name), str):
                case.query[name] = data.draw(st.sampled_from(real[name]))
    objects = [case.body] if isinstance(case.body, dict) else []
    if objects and isinstance(case.body.get("document"), dict):
        objects.append(case.body["document"])
    texts = []
    for body in objects:
        body.pop("appointment", None)  # generated ids never exist: 422 every time
        for name, value in body.items():
            choices = REAL_VALUES.get(name) or real.get(name)
            if name == "services" and isinstance(value, list):
                body[name] = [data.draw(st.sampled_from(real["service"]))]
            elif isinstance(value, str):
                if choices:
                    body[name] = data.draw(st.sampled_from(choices))
                texts.append((body, name))
    if flavour == "hostile" and texts:
        body, name = data.draw(st.sampled_from(texts))
        body[name] = data.draw(st.sampled_from(HOSTILE))


def fresh_session(store, username: str) -> str:
    """A new bearer token for ``username`` (logout spends one per request)."""
    token = secrets.token_urlsafe(32)
    with store.write() as tx:
        user_id = tx.one("SELECT id FROM users WHERE username = ?", (username,))[0]
        tx.execute("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                   (token_hash(token), user_id, tx.now, tx.now + 3600))
    return token


def assert_json_error(status: int, content_type: str, content: bytes, label: str):
    """Every 4xx/5xx under /api/ is JSON {"error": {"code", "message"}} with non-empty strings."""
    if status < 400:
        return
    assert content_type.startswith("application/json"), (label, status, content[:300])
    body = json.loads(content)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (label, status, body)
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], (label, status, body)
    assert isinstance(error.get("message"), str) and error["message"], (label, status, body)


def assert_database_intact(box):
    assert box.store.read_one("PRAGMA integrity_check")[0] == "ok"
    count, last = box.store.read_one("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM events")
    assert count == last, f"event seq has gaps: {count} events, last seq {last}"


def test_fuzz_every_operation(app, tokens):
    box = app.extensions["turnero"]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # The test sends each role's bearer token itself; schemathesis must not generate or negate it.
    schema.config.generation.update(with_security_parameters=False)
    statuses = collections.defaultdict(collections.Counter)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 35
    for operation in operations:
        roles = roles_of(operation)
        allowed = [name for name, role in TOKEN_ROLES.items() if any(role in ROLE_GRANTS[r] for r in roles)]
        others = [name for name in TOKEN_ROLES if name not in allowed]
        # Allowed tokens first (Hypothesis shrinks towards them), then one that is not allowed, then none.
        choices = allowed + others[:1] + [None] if roles else [None, "ana"]
        real = seed(box.engine)
        raw = operation.definition.raw
        # Only a body or a query string can be made invalid (any text is a valid path id).
        negatable = "requestBody" in raw or any(p["in"] == "query" for p in raw.get("parameters", []))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if negatable else (GenerationMode.POSITIVE,):

            @FUZZ_SETTINGS
            @given(case=operation.as_strategy(generation_mode=mode), who=st.sampled_from(choices), data=st.data())
            def fuzz(case, who, data):
                if mode is GenerationMode.POSITIVE:
                    realistic(data, case, real)
                headers = {}
                if who is not None:
                    spent = operation.path == "/auth/logout" and who in USERS  # logout ends a user's session
                    token = fresh_session(box.store, who) if spent else tokens[who]
                    headers["Authorization"] = f"Bearer {token}"
                response = case.call(headers=headers)
                statuses[operation.label][response.status_code] += 1
                assert_json_error(response.status_code, (response.headers.get("content-type") or [""])[0],
                                  response.content, operation.label)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                fuzz()
            except (Exception, BaseExceptionGroup) as exc:  # report every operation's failures, then fail once
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
    assert set(statuses) == {operation.label for operation in operations}
    # The fuzzer got past validation into the engine, not only into 4xx answers.
    for label in ("POST /tickets", "GET /tickets/{ticket_id}", "POST /counters/{counter_id}/open",
                  "POST /tickets/{ticket_id}/cancel", "POST /close-day"):
        assert any(200 <= status < 300 for status in statuses[label]), (label, dict(statuses[label]))
    assert_database_intact(box)


def test_every_route_with_odd_path_segments_answers_json(app, tokens):
    """Each documented path with hostile ids, by its method and by one it does not take."""
    client = app.test_client()
    doc = client.get("/api/v1/openapi.json").json
    statuses = collections.Counter()
    for template, operations in doc["paths"].items():
        # A supervisor gets past most role checks; logout spends its token.
        token = fresh_session(app.extensions["turnero"].store, "sofia") if template == "/auth/logout" \
            else tokens["sofia"]
        headers = {"Authorization": f"Bearer {token}"}
        paths = [re.sub(r"\{[^}]+\}", segment, template) for segment in PATH_SEGMENTS] if "{" in template \
            else [template]
        for path in paths:
            for method in [method.upper() for method in operations] + ["PUT"]:
                response = client.open(f"/api/v1{path}", method=method, json={}, headers=headers)
                label = f"{method} {path[:80]}"
                assert response.status_code < 500, (label, response.get_data(as_text=True)[:300])
                assert_json_error(response.status_code, response.content_type or "", response.get_data(), label)
                statuses[response.status_code] += 1
    assert statuses[401] == 0, "the sweep must run authenticated"
    assert statuses[404] and statuses[405]
    assert_database_intact(app.extensions["turnero"])


def test_any_request_under_api_is_answered_in_json(app, tokens):
    """Unknown routes, wrong methods, odd segments: always a JSON answer, never a 5xx."""
    client = app.test_client()
    segment = st.sampled_from(["tickets", "counters", "v1", "announcements", "public", "x", ".."] + PATH_SEGMENTS) \
        | st.text(st.characters(codec="utf-8", exclude_characters="/?#%"), max_size=12)

    @settings(max_examples=60, derandomize=True, database=None, deadline=None)
    @given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
           path=st.lists(segment, min_size=1, max_size=4).map("/".join), who=st.sampled_from(["sofia", None]))
    def request(method, path, who):
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        response = client.open(f"/api/v1/{path}", method=method, json={}, headers=headers)
        label = f"{method} {path[:80]}"
        assert response.status_code < 500, (label, response.get_data(as_text=True)[:300])
        assert_json_error(response.status_code, response.content_type or "", response.get_data(), label)

    request()
    assert_database_intact(app.extensions["turnero"])


# ------------------------------------------------------------------ regressions (one per bug found)


def test_lone_surrogate_in_a_json_body_is_400_not_500(api, app):
    """Found by the fuzzer: "\\ud800" is a valid JSON escape, but SQLite cannot store the text."""
    before = app.extensions["turnero"].store.read_one("SELECT COUNT(*) FROM tickets")[0]
    for body in ('{"service": "ORI", "name": "\\ud800"}', '{"appointment": "\\udfff"}',
                 '{"service": "ORI", "idempotency_key": "a\\ud800"}'):
        response = api.post("/tickets", raw=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and error_code(response) == "malformed_json", body
    # The same text as raw bytes (CESU-8 style): Python's JSON decoder lets it through as a surrogate.
    response = api.post("/tickets", raw=b'{"service": "ORI", "name": "\xed\xa0\x80"}',
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_code(response) == "malformed_json"
    assert app.extensions["turnero"].store.read_one("SELECT COUNT(*) FROM tickets")[0] == before
    # Characters beyond the BMP, written as a valid surrogate pair, are ordinary text.
    ok = api.post("/tickets", raw='{"service": "ORI", "name": "Mar\\u00eda \\ud83d\\ude00"}',
                  headers={"Content-Type": "application/json"})
    assert ok.status_code == 201 and ok.json["name"] == "María \U0001F600"


def test_lone_surrogate_in_login_and_supervisor_bodies_is_400(app, tokens):
    client = app.test_client()
    headers = {"Content-Type": "application/json"}
    for body in ('{"username": "\\ud800", "password": "x"}', '{"username": "ana", "password": "\\ud800"}'):
        response = client.post("/api/v1/auth/login", data=body, headers=headers)
        assert response.status_code == 400 and error_code(response) == "malformed_json", body
    response = client.post("/api/v1/close-day", data='{"reason": "\\ud800"}',
                           headers={**headers, "Authorization": f"Bearer {tokens['sofia']}"})
    assert response.status_code == 400 and error_code(response) == "malformed_json"


def test_deeply_nested_json_body_is_400_not_500(api):
    """The JSON parser's recursion limit is reached well under the 64 KiB body limit."""
    for raw in ("[" * 50_000, '{"service": ' + "[" * 30_000 + "]" * 30_000 + "}"):
        response = api.post("/tickets", raw=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and error_code(response) == "malformed_json"


def test_announcement_of_a_non_ascii_digit_seq_is_404_not_500(api):
    """"²" passes str.isdigit() but int() refuses it."""
    for seq in ("%C2%B2", "%D9%A1"):  # superscript two, Arabic-Indic one
        response = api.get(f"/announcements/{seq}")
        assert response.status_code == 404 and error_code(response) == "not_found", seq


def test_dni_with_digits_of_another_script_is_422(api, app):
    """SPEC.md: a DNI is 8 digits; "١٢٣٤٥٦٧٨" matched the regex \\d{8} and was stored."""
    response = api.post("/tickets", {"service": "ORI",
                                     "document": {"type": "DNI", "number": "\u0661\u0662\u0663\u0664"
                                                                           "\u0665\u0666\u0667\u0668"}})
    assert response.status_code == 422 and error_code(response) == "invalid_document"
    assert app.extensions["turnero"].store.read_one("SELECT COUNT(*) FROM tickets")[0] == 0
    assert api.post("/tickets", {"service": "ORI", "document": {"type": "DNI", "number": "12345678"}}) \
        .status_code == 201


def test_stats_for_the_last_representable_day_is_422_not_500(api, tokens):
    """The end of 9999-12-31 is past datetime's range: the period is refused, not a crash."""
    supervisor = api.as_(tokens["sofia"])
    for query in ("from=9999-12-31", "from=9999-12-30&to=9999-12-31"):
        response = supervisor.get(f"/stats?{query}")
        assert response.status_code == 422 and error_code(response) == "invalid_period", query
    assert supervisor.get("/stats?from=9999-12-29&to=9999-12-30").status_code == 200
    assert supervisor.get("/stats?from=&to=").status_code == 200  # SPEC.md's own form: empty = today


def test_openapi_describes_what_the_fuzzer_found_the_code_does(app):
    """The document was wrong where the code is right (SPEC.md): keep them together."""
    doc = app.test_client().get("/api/v1/openapi.json").json
    issue = doc["paths"]["/tickets"]["post"]["requestBody"]
    assert issue["required"] is True  # an empty body is 400, not "no body"
    assert {"required": ["service"]} in issue["content"]["application/json"]["schema"]["anyOf"]
    params = {p["name"]: p for p in doc["paths"]["/events"]["get"]["parameters"]}
    assert "minimum" not in params["after"]["schema"] and "maximum" not in params["limit"]["schema"]  # clamped
    stats = {p["name"]: p for p in doc["paths"]["/stats"]["get"]["parameters"]}
    assert stats["from"]["allowEmptyValue"] is True and stats["to"]["allowEmptyValue"] is True


def test_out_of_range_event_paging_is_clamped_as_documented(api):
    for _ in range(3):
        api.post("/tickets", {"service": "ORI"})
    assert [e["seq"] for e in api.get("/events?after=-5&limit=0").json["events"]] == [1]
    assert len(api.get("/events?after=-5&limit=5000").json["events"]) == 3
