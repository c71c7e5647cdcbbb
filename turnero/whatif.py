"""The supervisor's "¿y si…?": forecast waits per service over the next hours, with the counters
as they are and under each choice asked (open or close a counter, move a counter's services).

The same forecaster as the tickets' estimates (:mod:`turnero.forecast`), run over the people
waiting now and those expected to arrive before the horizon (the arrival history by hour and
class; appointments booked), each choice a scenario of its own. Nothing is changed: it only reads.
"""
from __future__ import annotations

import copy

from turnero import forecast
from turnero.errors import DomainError, invalid
from turnero.eta import estimate

HORIZON_MINUTES = 120
HORIZON_RANGE = (30, 240)
MAX_SCENARIOS = 4
MAX_CHANGES = 4
ACTIONS = ("open", "close", "services")
RUNS = 100  # per scenario: waits are pooled over every ticket of every run


def check(settings, body: dict) -> tuple[int, list]:
    """The horizon and the scenarios of a request body (already a JSON object).

    Errors: invalid_type (400); missing_field, invalid_horizon, invalid_scenarios, invalid_action,
    unknown_counter, unknown_service (422).
    """
    horizon = body.get("horizon_minutes")
    if horizon is None:
        horizon = HORIZON_MINUTES
    if not isinstance(horizon, int) or isinstance(horizon, bool):
        raise DomainError("invalid_type", "El campo 'horizon_minutes' debe ser un número entero.", 400,
                          field="horizon_minutes")
    if not HORIZON_RANGE[0] <= horizon <= HORIZON_RANGE[1]:
        raise invalid("invalid_horizon", f"El horizonte va de {HORIZON_RANGE[0]} a {HORIZON_RANGE[1]} minutos.")
    scenarios = _list(body, "scenarios", "invalid_scenarios", MAX_SCENARIOS)
    out = []
    for scenario in scenarios:
        if not isinstance(scenario, dict):
            raise DomainError("invalid_type", "Cada escenario debe ser un objeto.", 400, field="scenarios")
        label = scenario.get("label")
        if label is not None and not isinstance(label, str):
            raise DomainError("invalid_type", "El campo 'label' debe ser texto.", 400, field="label")
        changes = [_change(settings, change) for change in _list(scenario, "changes", "invalid_scenarios",
                                                                 MAX_CHANGES)]
        out.append({"label": label[:120] if label else None, "changes": changes})
    return horizon, out


def _list(body: dict, name: str, code: str, most: int) -> list:
    value = body.get(name)
    if value is None:
        raise DomainError("missing_field", f"Falta el campo {name!r}.", 422, field=name)
    if not isinstance(value, list):
        raise DomainError("invalid_type", f"El campo {name!r} debe ser una lista.", 400, field=name)
    if not 1 <= len(value) <= most:
        raise invalid(code, f"El campo {name!r} lleva de 1 a {most} elementos.")
    return value


def _change(settings, change) -> dict:
    if not isinstance(change, dict):
        raise DomainError("invalid_type", "Cada cambio debe ser un objeto.", 400, field="changes")
    for name in ("counter", "action"):
        if change.get(name) is None:
            raise DomainError("missing_field", f"Falta el campo {name!r}.", 422, field=name)
        if not isinstance(change[name], str):
            raise DomainError("invalid_type", f"El campo {name!r} debe ser texto.", 400, field=name)
    if change["action"] not in ACTIONS:
        raise invalid("invalid_action", f"Acción desconocida: {change['action']!r}. Use {', '.join(ACTIONS)}.")
    if change["counter"] not in settings.counters:
        raise invalid("unknown_counter", f"No existe la ventanilla {change['counter']!r}.")
    services = change.get("services")
    if services is not None:
        if not isinstance(services, list) or not all(isinstance(code, str) for code in services):
            raise DomainError("invalid_type", "El campo 'services' debe ser una lista de códigos.", 400,
                              field="services")
        unknown = [code for code in services if code not in settings.services]
        if unknown or not services:
            raise invalid("unknown_service", f"Servicio desconocido: {unknown[0] if unknown else '(ninguno)'!r}.")
        services = list(dict.fromkeys(services))
    elif change["action"] == "services":
        raise DomainError("missing_field", "Falta el campo 'services'.", 422, field="services")
    return {"counter": change["counter"], "action": change["action"], "services": services}


def what_if(engine, body: dict) -> dict:
    """Forecast waits per service now and under each scenario of ``body`` (see :func:`check`)."""
    horizon, scenarios = check(engine.settings, body)
    base = engine.estimates.scene(engine.store.connect())
    base.track_arrivals_until = base.now + horizon * 60
    base.phantoms = (forecast.TIER_NORMAL,)
    out = [_outcome(engine, base, {"label": None, "changes": []})]
    for scenario in scenarios:
        out.append(_outcome(engine, _changed(engine.settings, base, scenario["changes"]), scenario))
    return {"now": engine.clock.rfc3339(base.now), "horizon_minutes": horizon, "scenarios": out}


def _changed(settings, base, changes) -> forecast.Scene:
    scene = copy.copy(base)
    counters = {counter.id: copy.copy(counter) for counter in base.counters}
    for change in changes:
        counter_id = change["counter"]
        if change["action"] == "close":
            counters.pop(counter_id, None)  # it ends the attention it holds, then calls nobody
            continue
        current = counters.get(counter_id)
        if current is None:
            current = forecast.Counter(counter_id, tuple(settings.counters[counter_id].services))
            if change["action"] == "services":
                continue  # moving the services of a counter nobody opens changes nothing
            counters[counter_id] = current
        if change["action"] == "open":
            current.paused_for = None  # a paused counter opened again now
        if change["services"]:
            current.services = tuple(change["services"])
    scene.counters = [counters[key] for key in sorted(counters)]
    return scene


def _outcome(engine, scene, scenario) -> dict:
    result = forecast.simulate(scene, runs=RUNS)
    waiting = {}
    for ticket in scene.waiting:
        waiting[ticket.service] = waiting.get(ticket.service, 0) + 1
    services = []
    for code, service in engine.settings.services.items():
        waits = sorted(result.waits.get(code, []))
        served = code in result.served
        target = service.target_wait_minutes * 60
        new = result.phantoms.get((code, forecast.TIER_NORMAL))
        services.append({
            "code": code, "name": service.name(), "served": served, "waiting": waiting.get(code, 0),
            "arrivals": round(result.arrivals.get(code, 0.0), 1), "target_wait_minutes": service.target_wait_minutes,
            "wait_median_minutes": _minutes(waits, 0.5) if served else None,
            "wait_p90_minutes": _minutes(waits, 0.9) if served else None,
            "within_target": round(sum(w <= target for w in waits) / len(waits), 3) if served and waits else None,
            "new_ticket": estimate(new, scene.now) if served and new else None,
        })
    counters = [{"id": counter.id, "name": engine.views.counter_name(counter.id), "services": list(counter.services),
                 "paused": counter.paused_for is not None} for counter in scene.counters]
    return {"label": scenario["label"], "changes": scenario["changes"], "counters": counters, "services": services}


def _minutes(ordered: list, share: float):
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 60, 1)
