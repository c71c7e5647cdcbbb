/* The supervisor's "¿y si…?": options (open or close a counter, change its services) compared with
 * things as they are, by the forecast waits per service of POST /api/v1/supervision/what-if. */
(function () {
  "use strict";
  const L = window.TurneroLive;
  const config = JSON.parse(document.getElementById("config").textContent);
  const msg = config.messages;
  const $ = function (id) { return document.getElementById(id); };
  const el = L.el;
  const options = [];

  function t(key, params) { return L.format(msg[key] || key, params || {}); }
  function counterName(id) { return (config.counters.filter(function (c) { return c.id === id; })[0] || {name: id}).name; }
  function serviceNames(codes) {
    return codes.map(function (code) { return (config.services[code] || {name: code}).name; }).join(", ");
  }

  function describe(change) {
    const counter = counterName(change.counter);
    if (change.action === "close") return t("counter.sup.whatif_close_text", {counter: counter});
    if (change.action === "services") return t("counter.sup.whatif_move_text", {counter: counter, services: serviceNames(change.services)});
    return change.services ? t("counter.sup.whatif_open_with", {counter: counter, services: serviceNames(change.services)})
      : t("counter.sup.whatif_open_text", {counter: counter});
  }

  /* The service boxes start as the chosen counter's configured services. */
  function syncServices() {
    const counter = config.counters.filter(function (c) { return c.id === $("whatif-counter").value; })[0];
    document.querySelectorAll("#whatif-services input").forEach(function (input) {
      input.checked = !!counter && counter.services.indexOf(input.value) >= 0;
    });
    $("whatif-services").disabled = $("whatif-action").value === "close";
  }

  function renderOptions() {
    $("whatif-options").replaceChildren.apply($("whatif-options"), options.map(function (change, index) {
      const remove = el("button", {type: "button", text: t("counter.sup.whatif_remove")});
      remove.setAttribute("aria-label", t("counter.sup.whatif_remove") + " " + describe(change));
      remove.addEventListener("click", function () { options.splice(index, 1); renderOptions(); });
      return el("li", {}, [el("span", {text: t("counter.sup.whatif_option", {n: index + 1, text: describe(change)}) + " "}), remove]);
    }));
    $("whatif-empty").hidden = options.length > 0;
    $("whatif-add").disabled = options.length >= 4;
  }

  $("whatif-counter").addEventListener("change", syncServices);
  $("whatif-action").addEventListener("change", syncServices);
  $("whatif-add").addEventListener("click", function () {
    const action = $("whatif-action").value;
    const chosen = Array.from(document.querySelectorAll("#whatif-services input:checked")).map(function (i) { return i.value; });
    const change = {counter: $("whatif-counter").value, action: action};
    if (action !== "close") {
      if (!chosen.length) { $("whatif-status").textContent = t("counter.sup.whatif_none"); return; }
      const own = (config.counters.filter(function (c) { return c.id === change.counter; })[0] || {services: []}).services;
      const same = own.length === chosen.length && chosen.every(function (code) { return own.indexOf(code) >= 0; });
      if (action === "services" || !same) change.services = chosen;  // opening as configured needs no list
    }
    options.push(change);
    renderOptions();
  });

  function cell(service) {
    if (!service.served) return t("counter.sup.whatif_unserved");
    if (service.wait_median_minutes === null) return t("counter.sup.whatif_nobody");
    const params = {median: Math.round(service.wait_median_minutes), p90: Math.round(service.wait_p90_minutes)};
    if (service.within_target === null) return t("counter.sup.whatif_cell_no_share", params);
    params.share = Math.round(service.within_target * 100);
    return t("counter.sup.whatif_cell", params);
  }

  $("whatif-run").addEventListener("click", async function () {
    if (!options.length) { $("whatif-status").textContent = t("counter.sup.whatif_none"); return; }
    $("whatif-run").disabled = true;
    try {
      const body = {horizon_minutes: 120, scenarios: options.map(function (change) { return {changes: [change]}; })};
      const answer = (await L.api("POST", "/supervision/what-if", body)).data;
      const heads = [t("counter.col_service"), t("counter.sup.whatif_now")].concat(options.map(function (change, index) {
        return t("counter.sup.whatif_option", {n: index + 1, text: describe(change)});
      }));
      $("whatif-head").replaceChildren.apply($("whatif-head"), heads.map(function (text) { return el("th", {scope: "col", text: text}); }));
      const rows = answer.scenarios[0].services.filter(function (service) {
        return answer.scenarios.some(function (scenario) {
          return scenario.services.some(function (s) { return s.code === service.code && s.served; });
        });
      });
      $("whatif-body").replaceChildren.apply($("whatif-body"), rows.map(function (service) {
        return el("tr", {"data-service": service.code}, [el("th", {scope: "row", text: service.name})].concat(
          answer.scenarios.map(function (scenario) {
            const own = scenario.services.filter(function (s) { return s.code === service.code; })[0];
            return el("td", {class: "whatif-cell", text: cell(own)});
          })));
      }));
      $("whatif-table").hidden = false;
      $("whatif-status").textContent = t("counter.sup.whatif_done", {time: answer.now.slice(11, 16)});
    } catch (error) {
      $("whatif-status").textContent = error.message || String(error);
    } finally {
      $("whatif-run").disabled = false;
    }
  });

  syncServices();
  renderOptions();
})();
