/* The supervisor's live view: counters, queues against target, and actions that say why. */
(function () {
  "use strict";
  const L = window.TurneroLive;
  const config = JSON.parse(document.getElementById("config").textContent);
  const msg = config.messages;
  const $ = function (id) { return document.getElementById(id); };
  const el = L.el;
  let view = null;
  let loadedAt = Date.now();

  function t(key, params) { return L.format(msg[key] || key, params || {}); }
  function fail(error) { $("message").textContent = error.message || String(error); }
  function say(text) { $("info").textContent = text || ""; }
  function className(priority) { return t("counter.class_" + (priority || "normal")); }
  function languageName(code) { return msg["counter.language_" + code] || code || ""; }
  function serviceName(code) { return (config.services[code] || {name: code}).name; }
  function elapsed(seconds) {
    if (seconds === null || seconds === undefined) return "";
    return L.minutesSeconds(seconds + (Date.now() - loadedAt) / 1000);
  }

  const refresh = L.coalesce(async function () {
    try {
      const answer = await L.api("GET", "/supervision");
      view = answer.data;
      loadedAt = Date.now();
      render();
    } catch (error) {
      fail(error);
    }
  });

  /* One dialog for every action: a title, optional extra fields, and the required reason. */
  let pending = null;
  function ask(title, extra, run) {
    $("dialog-title").textContent = title;
    $("dialog-extra").replaceChildren.apply($("dialog-extra"), extra ? [extra] : []);
    $("dialog-reason").value = "";
    pending = run;
    $("action-dialog").showModal();
    $("dialog-reason").focus();
  }
  $("dialog-cancel").addEventListener("click", function () { pending = null; $("action-dialog").close(); });
  $("dialog-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const reason = $("dialog-reason").value.trim();
    if (!reason) { $("dialog-reason").focus(); return; }
    const run = pending;
    pending = null;
    $("action-dialog").close();
    $("message").textContent = "";
    if (!run) return;
    try {
      const text = await run(reason);
      say(text || "");
    } catch (error) {
      fail(error);
    }
    refresh();
  });

  function serviceSelect(id, selected, multiple) {
    const wrap = el("div", {});
    if (multiple) {
      const box = el("fieldset", {}, [el("legend", {text: t("counter.sup.col_services")})]);
      Object.keys(config.services).forEach(function (code) {
        const input = el("input", {type: "checkbox", value: code, id: id + "-" + code,
                                   checked: selected.indexOf(code) >= 0});
        box.appendChild(el("div", {}, [input, el("label", {htmlFor: id + "-" + code, text: " " + serviceName(code)})]));
      });
      wrap.appendChild(box);
    } else {
      wrap.appendChild(el("label", {htmlFor: id, text: t("counter.transfer_to")}));
      const select = el("select", {id: id});
      Object.keys(config.services).forEach(function (code) {
        select.appendChild(el("option", {value: code, text: serviceName(code), selected: code === selected}));
      });
      wrap.appendChild(select);
    }
    return wrap;
  }

  function button(text, label, onClick) {
    const b = el("button", {type: "button", text: text});
    b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  }

  function cancelTicket(ticket) {
    ask(t("counter.sup.cancel") + " " + ticket.code, null, async function (reason) {
      await L.api("POST", "/tickets/" + encodeURIComponent(ticket.id) + "/cancel", {reason: reason});
      return t("counter.done");
    });
  }

  function transferTicket(ticket) {
    const others = Object.keys(config.services).filter(function (code) { return code !== ticket.service; });
    ask(t("counter.sup.transfer") + " " + ticket.code, serviceSelect("dialog-service", others[0], false),
      async function (reason) {
        await L.api("POST", "/tickets/" + encodeURIComponent(ticket.id) + "/transfer",
                    {service: $("dialog-service").value, notes: reason});
        return t("counter.done");
      });
  }

  function renderSummary(summary) {
    $("sum-waiting").textContent = String(summary.waiting);
    $("sum-beyond").textContent = String(summary.beyond_target);
    $("sum-served").textContent = String(summary.served);
    $("sum-median").textContent = summary.median_wait_seconds === null ? t("counter.sup.sum_none")
      : L.minutesSeconds(summary.median_wait_seconds);
    $("sum-open").textContent = summary.counters_open + " / " +
      (summary.counters_open + summary.counters_paused + summary.counters_closed);
    $("sum-paused").textContent = String(summary.counters_paused);
    $("sum-beyond").parentNode.classList.toggle("alarm", summary.beyond_target > 0);
  }

  function alertItem(alert) {
    // A shape besides the colour (CSS: a circle for danger, a triangle for a warning) around a "!".
    const icon = el("span", {class: "alert-icon", text: "!"});
    icon.setAttribute("aria-hidden", "true");
    return el("li", {class: "alert alert-" + alert.severity, "data-code": alert.code, "data-key": alertKey(alert),
                     "data-severity": alert.severity}, [
      icon,
      el("strong", {class: "alert-level", text: t("counter.sup.severity_" + alert.severity) + ":"}),
      el("span", {class: "alert-text", text: " " + alert.message}),
    ]);
  }

  function alertKey(alert) {
    return [alert.code, alert.service || "", alert.counter || "", alert.ticket || ""].join("|");
  }

  // The list is a polite live region: the 30 s refresh (and every event) renders again, so only what
  // changed may touch the DOM, else a screen reader would read the same alerts out each time.
  function renderAlerts(alerts) {
    const list = $("alerts");
    const shown = {};
    Array.from(list.children).forEach(function (item) { shown[item.dataset.key] = item; });
    alerts.forEach(function (alert, index) {
      const key = alertKey(alert);
      let item = shown[key];
      delete shown[key];
      if (item && item.dataset.severity !== alert.severity) { item.remove(); item = null; }
      if (!item) {
        item = alertItem(alert);
      } else {
        const text = item.querySelector(".alert-text");
        if (text.textContent !== " " + alert.message) text.textContent = " " + alert.message;
      }
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
    });
    Object.keys(shown).forEach(function (key) { shown[key].remove(); });
    $("alerts-none").hidden = alerts.length > 0;
    const count = alerts.length ? "(" + alerts.length + ")" : "";
    if ($("alert-count").textContent !== count) $("alert-count").textContent = count;
  }

  function render() {
    renderSummary(view.summary);
    renderAlerts(view.alerts);
    $("counters-body").replaceChildren.apply($("counters-body"), view.counters.map(function (counter) {
      const actions = el("td", {});
      if (counter.state !== "closed") {
        actions.appendChild(button(t("counter.sup.services"), t("counter.sup.services") + " " + counter.name,
          function () {
            ask(t("counter.sup.services") + " — " + counter.name, serviceSelect("dialog-services", counter.services, true),
              async function (reason) {
                const chosen = Array.from(document.querySelectorAll("#dialog-extra input:checked"))
                  .map(function (input) { return input.value; });
                await L.api("POST", "/counters/" + encodeURIComponent(counter.id) + "/services",
                            {services: chosen, reason: reason});
                return t("counter.done");
              });
          }));
      }
      if (counter.ticket) {
        actions.appendChild(button(t("counter.sup.transfer"), t("counter.sup.transfer") + " " + counter.ticket.code,
          function () { transferTicket(counter.ticket); }));
        if (counter.ticket.status === "called") {
          actions.appendChild(button(t("counter.sup.cancel"), t("counter.sup.cancel") + " " + counter.ticket.code,
            function () { cancelTicket(counter.ticket); }));
        }
      }
      let stateText = t("counter.state_" + counter.state);
      if (counter.state === "paused") stateText = t("counter.sup.paused_because", {reason: counter.pause_reason || ""});
      if (counter.state !== "closed" && counter.language_first) stateText += " · " + t("counter.language_first");
      return el("tr", {"data-counter": counter.id}, [
        el("th", {scope: "row", text: counter.name}),
        el("td", {text: counter.staff || ""}),
        el("td", {class: "state", text: stateText}),
        el("td", {class: "ticket", text: counter.ticket ? counter.ticket.code + " (" + t("counter.status_" + counter.ticket.status) + ")" : ""}),
        el("td", {class: "idle", "data-seconds": counter.idle_seconds === null ? "" : counter.idle_seconds}),
        el("td", {text: counter.services.join(", ")}),
        actions,
      ]);
    }));

    $("queues-body").replaceChildren.apply($("queues-body"), view.queues.map(function (queue) {
      return el("tr", {"data-service": queue.code, class: queue.beyond_target ? "beyond" : ""}, [
        el("th", {scope: "row", text: queue.name}),
        el("td", {class: "num waiting", text: String(queue.waiting)}),
        el("td", {class: "num", text: queue.longest_wait_seconds === null ? "" : L.minutesSeconds(queue.longest_wait_seconds)}),
        el("td", {class: "num", text: queue.target_wait_minutes + " min"}),
        el("td", {class: "num beyond-count", text: String(queue.beyond_target)}),
      ]);
    }));

    $("beyond-body").replaceChildren.apply($("beyond-body"), view.beyond_target.map(function (ticket) {
      return el("tr", {"data-code": ticket.code, class: "beyond" + (ticket.priority ? " preferential" : "")}, [
        el("th", {scope: "row", text: ticket.code}),
        el("td", {text: ticket.service_label}),
        el("td", {text: className(ticket.priority)}),
        el("td", {class: "num waited", "data-seconds": ticket.waited_seconds}),
      ]);
    }));
    $("beyond-none").hidden = view.beyond_target.length > 0;

    const waiting = [].concat.apply([], view.queues.map(function (queue) { return queue.tickets; }));
    $("waiting-body").replaceChildren.apply($("waiting-body"), waiting.map(function (ticket) {
      const person = [ticket.document ? ticket.document.type + " " + ticket.document.number : "", ticket.name || ""]
        .filter(Boolean).join(" · ");
      return el("tr", {"data-code": ticket.code, "data-service": ticket.service,
                       class: (ticket.beyond_target ? "beyond" : "") + (ticket.priority ? " preferential" : "")}, [
        el("th", {scope: "row", text: ticket.code}),
        el("td", {text: ticket.service_label}),
        el("td", {text: className(ticket.priority)}),
        el("td", {class: "language-cell", text: languageName(ticket.language)}),
        el("td", {class: "num waited", "data-seconds": ticket.waited_seconds}),
        el("td", {text: person}),
        el("td", {}, [button(t("counter.sup.cancel"), t("counter.sup.cancel") + " " + ticket.code,
                             function () { cancelTicket(ticket); })]),
      ]);
    }));

    $("requeue-body").replaceChildren.apply($("requeue-body"), view.requeueable.map(function (ticket) {
      return el("tr", {"data-code": ticket.code}, [
        el("th", {scope: "row", text: ticket.code}),
        el("td", {text: ticket.service_label}),
        el("td", {class: "status", text: t("counter.sup.status_" + ticket.status)}),
        el("td", {}, [button(t("counter.sup.requeue"), t("counter.sup.requeue") + " " + ticket.code, function () {
          ask(t("counter.sup.requeue") + " " + ticket.code, null, async function (reason) {
            await L.api("POST", "/tickets/" + encodeURIComponent(ticket.id) + "/requeue", {reason: reason});
            return t("counter.done");
          });
        })]),
      ]);
    }));

    $("audit-body").replaceChildren.apply($("audit-body"), view.audit.map(function (entry) {
      return el("tr", {"data-seq": entry.seq}, [
        el("td", {text: entry.at.slice(11, 19)}),
        el("td", {text: entry.by || ""}),
        el("td", {text: msg["counter.audit." + entry.type] || entry.type}),
        el("td", {text: entry.code || entry.counter || ""}),
        el("td", {text: entry.reason || ""}),
      ]);
    }));
    document.body.dataset.version = String((Number(document.body.dataset.version) || 0) + 1);
    tick();
  }

  function tick() {
    document.querySelectorAll("[data-seconds]").forEach(function (cell) {
      cell.textContent = cell.dataset.seconds === "" ? "" : elapsed(Number(cell.dataset.seconds));
    });
  }

  /* Closing the day has its own dialog that says what it will do; cancelling changes nothing. */
  function plural(key, n) {
    const form = new Intl.PluralRules("es").select(n);
    return L.format(msg[key + "." + form] || msg[key + ".other"] || key, {n: n});
  }
  $("close-day").addEventListener("click", function () {
    const summary = view ? view.summary : {waiting: 0, called: 0};
    $("close-effect").textContent = plural("counter.sup.close_day_effect", summary.waiting + summary.called);
    $("close-reason").value = "";
    $("close-dialog").showModal();
    $("close-reason").focus();
  });
  $("close-cancel").addEventListener("click", function () { $("close-dialog").close(); });
  $("close-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const reason = $("close-reason").value.trim();
    if (!reason) { $("close-reason").focus(); return; }
    $("close-dialog").close();
    $("message").textContent = "";
    try {
      const answer = await L.api("POST", "/close-day", {reason: reason});
      say(t("counter.sup.day_closed", {n: answer.data.expired}));
    } catch (error) {
      fail(error);
    }
    refresh();
  });

  setInterval(tick, 1000);
  setInterval(refresh, 30000);  // waits cross their targets and the printer or sync change between events
  L.connect({
    event: function () { refresh(); },
    resync: refresh,
    connection: function (online) {
      $("connection").textContent = online ? msg["counter.online"] : msg["counter.offline"];
      $("connection").classList.toggle("offline", !online);
    },
  });
  refresh();
})();
