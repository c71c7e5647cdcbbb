"""The report pages: tables, SVG charts, the CSV with the same figures, and the monthly indicator table."""
from __future__ import annotations

import csv
import io
import re

import pytest


@pytest.fixture
def day(app, api, tokens, clock):
    """Yesterday's figures (baseline) and today's, on a fake clock."""
    engine = app.extensions["turnero"].engine
    clock.advance(-86400 * 30)  # a day of the previous month: the baseline
    old = engine.issue("ORI", channel="staff")[0]
    clock.advance(1800)
    engine.call_next("v1", "ana")
    engine.start(old["id"], "ana")
    clock.advance(600)
    engine.finish(old["id"], "ana", "resolved")
    engine.close_counter("v1", "ana")
    clock.advance(86400 * 30 - 2400)
    tickets = [engine.issue("ORI", channel="staff")[0] for _ in range(3)]
    clock.advance(300)
    for ticket in tickets[:2]:
        engine.call_next("v1", "ana")
        engine.start(ticket["id"], "ana")
        clock.advance(240)
        engine.finish(ticket["id"], "ana", "resolved", result=None)
    engine.call_next("v1", "ana")
    engine.no_show(tickets[2]["id"], "ana")
    return engine


def as_user(app, token):
    client = app.test_client()
    with client.session_transaction() as session:
        session["token"] = token
    return client


def test_reports_page_tables_charts_and_csv_agree(app, tokens, day):
    client = as_user(app, tokens["sofia"])
    page = client.get("/reports").get_data(as_text=True)
    assert page.count("<svg") >= 3 and "<script" not in page.split("</header>")[1]
    # The totals are split in two narrower tables (counts, times): their cells together.
    total = "".join(re.findall(r'<tr data-key="">(.*?)</tr>', page, re.S))
    cells = dict(re.findall(r'data-col="(\w+)">([^<]*)<', total))
    assert (cells["issued"], cells["served"], cells["no_shows"], cells["within_target"]) == ("3", "2", "1", "100.0")
    assert cells["wait_median"] == "7.0" and cells["service_median"] == "4.0"
    response = client.get("/reports/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="turnero-TEST-01-2026-11-25-2026-11-25.csv"' in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0] == ["periodo", "2026-11-25", "2026-11-25"]
    total_line = next(line for line in lines if line and line[0] == "total")
    assert total_line[3:6] == ["3", "2", "1"] and total_line[8] == cells["wait_median"]
    staff_line = next(line for line in lines if line and line[0] == "personal")
    assert staff_line[1] == "ana" and staff_line[4] == "2"
    assert ["10", "3"] in lines  # arrivals per hour


def test_reports_for_a_period_and_bad_input(app, tokens, day):
    client = as_user(app, tokens["sofia"])
    page = client.get("/reports?from=2026-10-01&to=2026-11-30")
    assert page.status_code == 200
    assert "Turnos por día" in page.get_data(as_text=True)  # the daily chart appears for a period
    bad = client.get("/reports?from=2026-11-30&to=2026-11-01")
    assert bad.status_code == 422 and "anterior" in bad.get_data(as_text=True)
    assert client.get("/reports/export.csv?from=nope").status_code == 400
    assert client.get("/reports/summary?month=2026-13").status_code == 400


def test_monthly_summary_is_an_indicator_table(app, tokens, day):
    client = as_user(app, tokens["sofia"])
    page = client.get("/reports/summary?month=2026-11").get_data(as_text=True)
    assert "Resumen mensual de indicadores" in page and "el mes anterior (10/2026)" in page
    for heading in ("Código", "Indicador", "Línea base", "Esperado", "Logrado", "Avance %", "Fuente"):
        assert f">{heading}</th>" in page
    rows = dict(re.findall(r'data-key="counter\.summary\.(\w+)".*?class="num achieved">([^<]*)<', page, re.S))
    assert rows["ind_issued"] == "3" and rows["ind_served"] == "2"
    within = re.search(r'ind_within".*?baseline">([^<]*)<.*?target">([^<]*)<.*?achieved">([^<]*)<.*?progress">([^<]*)<',
                       page, re.S).groups()
    # Ministry method: (100 - 0) / (80 - 0); the baseline is last month's (served after 30 min).
    assert within == ("0.0 ", "80.0", "100.0", "125.0")
    assert 'class="code">IND-03</td>\n        <th scope="row">Atendidos dentro' in page


def test_staff_and_anonymous_cannot_open_reports(app, tokens):
    staff = as_user(app, tokens["ana"])
    assert staff.get("/reports").status_code == 403
    assert staff.get("/reports/export.csv").status_code == 403
    assert app.test_client().get("/reports").status_code == 302


def test_tickets_csv_route_and_its_bad_input(app, tokens, day):
    client = as_user(app, tokens["sofia"])
    answer = client.get("/reports/tickets.csv")  # default: today, the day's three tickets
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "-turnos-" in answer.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(lines) == 1 + 3
    assert client.get("/reports/tickets.csv?from=garbage").status_code == 400
    assert client.get("/reports/tickets.csv?from=2026-11-30&to=2026-11-01").status_code == 422
    assert client.get("/reports/tickets.csv?from=2020-01-01&to=2026-11-01").status_code == 422  # over MAX_DAYS
    assert client.get("/reports?from=garbage").status_code == 400
    assert client.get("/reports?from=2020-01-01&to=2026-11-01").status_code == 422
    assert as_user(app, tokens["ana"]).get("/reports/tickets.csv").status_code == 403
    assert app.test_client().get("/reports/tickets.csv").status_code == 302
