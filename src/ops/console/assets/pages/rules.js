// Rules: status, FROM filter, actions, and per-rule counters and rates read from /metrics
// (the registry Prometheus scrapes). Click a rule for its SQL and last error.

const COUNTERS = {
  matched: "rulewire_topic_match_total",
  fired: "rulewire_rule_fired_total",
  succeeded: "rulewire_action_success_total",
  failed: "rulewire_action_failure_total",
  parse_errors: "rulewire_parse_errors_total",
};

// Sums each counter per rule, and per rule and action, from the Prometheus text format.
function perRule(metricsText) {
  const totals = {};
  for (const line of metricsText.split("\n")) {
    const m = line.match(/^(rulewire_[a-z_]+)\{([^}]*)\} ([0-9.e+-]+)$/);
    if (!m) continue;
    const rule = (m[2].match(/rule="([^"]*)"/) || [])[1];
    const action = (m[2].match(/action="([^"]*)"/) || [])[1];
    if (rule === undefined) continue;
    for (const [name, metric] of Object.entries(COUNTERS)) {
      if (m[1] !== metric) continue;
      const t = (totals[rule] ??= { actions: {} });
      t[name] = (t[name] || 0) + Number(m[3]);
      if (action !== undefined) {
        const a = (t.actions[action] ??= {});
        a[name] = (a[name] || 0) + Number(m[3]);
      }
    }
  }
  return totals;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

export default {
  title: "Rules",
  render(el) {
    el.innerHTML = `<table id="rules-table"><thead><tr><th>rule</th><th>status</th><th>FROM</th>
      <th>actions</th><th>matched</th><th>fired</th><th>actions ok</th><th>actions failed</th>
      <th>parse errors</th><th>matched/s</th></tr></thead><tbody></tbody></table>
      <div id="rule-detail"></div>`;
    const body = el.querySelector("tbody");
    const detail = el.querySelector("#rule-detail");
    let previous = null;
    let selected = null;
    async function refresh() {
      const [rules, metrics] = await Promise.all([
        fetch("/rules").then((r) => r.json()),
        fetch("/metrics").then((r) => r.text()),
      ]);
      const now = Date.now();
      const totals = perRule(metrics);
      body.replaceChildren();
      for (const r of rules) {
        const t = totals[r.name] || {};
        const row = body.insertRow();
        row.className = "rule";
        row.id = `rule-${r.name}`;
        cell(row, r.name);
        const status = r.last_error ? "error" : r.enabled ? "running" : r.loaded ? "disabled" : "not loaded";
        cell(row, status, r.last_error ? "bad" : r.enabled ? "ok" : "muted");
        cell(row, r.topic_filter ?? "(Basic Ingest only)");
        cell(row, [...r.actions, ...(r.error_action ? [`error: ${r.error_action}`] : [])].join(", "));
        for (const k of ["matched", "fired", "succeeded", "failed", "parse_errors"]) {
          cell(row, String(t[k] || 0), "num");
        }
        const before = previous?.totals[r.name]?.matched || 0;
        const rate = previous ? ((t.matched || 0) - before) / ((now - previous.at) / 1000) : 0;
        cell(row, rate.toFixed(1), "num");
        const was = previous?.totals[r.name];
        const seconds = previous ? (now - previous.at) / 1000 : 0;
        row.onclick = () => { selected = r.name; show(r, t, was, seconds); };
        if (selected === r.name) show(r, t, was, seconds);
      }
      previous = { at: now, totals };
    }
    // `was` and `seconds`: the previous poll's totals of this rule and the time since, for rates.
    function show(r, t, was, seconds) {
      detail.innerHTML = `<h3></h3><p class="muted"></p><pre class="sql"></pre><pre class="bad err"></pre>
        <table class="actions"><thead><tr><th>action</th><th>succeeded</th><th>failed</th>
        <th>succeeded/s</th><th>failed/s</th></tr></thead><tbody></tbody></table>`;
      const actions = detail.querySelector(".actions tbody");
      for (const [name, a] of Object.entries(t.actions || {})) {
        const row = actions.insertRow();
        const before = was?.actions?.[name] || {};
        const rate = (k) => (seconds ? ((a[k] || 0) - (before[k] || 0)) / seconds : 0).toFixed(1);
        cell(row, name);
        cell(row, String(a.succeeded || 0), "num");
        cell(row, String(a.failed || 0), "num");
        cell(row, rate("succeeded"), "num");
        cell(row, rate("failed"), "num");
      }
      detail.querySelector("h3").textContent = r.name;
      detail.querySelector("p").textContent = `${r.file} · SQL ${r.sql_version ?? ""} · ${r.description}`;
      detail.querySelector(".sql").textContent = r.sql ?? "";
      const err = detail.querySelector(".err");
      err.textContent = r.last_error ?? "";
      err.hidden = !r.last_error;
    }
    refresh();
    const timer = setInterval(refresh, 2000);
    return () => clearInterval(timer);
  },
};
