// Live trace: turn a rule's trace on for a bounded time (POST /api/trace/{rule}) and watch
// its events as they happen (Server-Sent Events): each message's input, whether it fired and
// the output, then each action's outcome and latency, and error-action payloads.

export default {
  title: "Trace",
  render(el) {
    el.innerHTML = `<div class="columns"><div>
        <label for="trace-rule">Rule</label><select id="trace-rule"></select></div><div>
        <label for="trace-seconds">Seconds (at most 600)</label><input id="trace-seconds" type="number" value="60"></div></div>
      <button id="trace-start">Start trace</button> <button id="trace-stop">Stop</button>
      <p id="trace-state" class="muted">Tracing is off.</p><ul id="trace-events"></ul>`;
    const $ = (id) => el.querySelector(`#${id}`);
    let source = null;
    const state = (text) => { $("trace-state").textContent = text; };
    fetch("/rules").then((r) => r.json()).then((rules) => {
      for (const r of rules.filter((r) => r.enabled)) $("trace-rule").add(new Option(r.name, r.name));
    });
    function show(e) {
      const li = document.createElement("li");
      li.className = `event-${e.kind}`;
      if (e.kind === "evaluation") {
        li.textContent = `${e.topic} from ${e.client_id || "?"}: ${e.payload} → ` +
          (e.fired ? `fired: ${e.output}` : e.parse_error ? "ParseError" : "did not fire");
      } else if (e.kind === "action") {
        if (!e.ok) li.classList.add("failed");
        li.textContent = `${e.action} ${e.ok ? "ok" : "failed"} in ${e.latency_ms.toFixed(1)} ms` +
          (e.error ? `: ${e.error}` : "") + (e.payload ? ` · payload ${e.payload}` : "");
      } else {
        li.textContent = e.kind === "missed" ? `(${e.events} events missed)` : "trace ended";
      }
      const list = $("trace-events");
      list.prepend(li);
      while (list.children.length > 500) list.lastChild.remove();
    }
    function close() { if (source) { source.close(); source = null; } }
    $("trace-start").onclick = async () => {
      const rule = $("trace-rule").value;
      const seconds = Math.max(1, Number($("trace-seconds").value) || 60);
      const r = await fetch(`/api/trace/${encodeURIComponent(rule)}?seconds=${seconds}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
      });
      if (!r.ok) { state(await r.text()); return; }
      const on = await r.json();
      close();
      source = new EventSource(`/api/trace/${encodeURIComponent(rule)}/events`);
      source.onmessage = (m) => {
        const e = JSON.parse(m.data);
        show(e);
        if (e.kind === "end") { close(); state("Tracing is off."); }
      };
      state(`Tracing ${rule} for ${on.seconds} s.`);
    };
    $("trace-stop").onclick = async () => {
      await fetch(`/api/trace/${encodeURIComponent($("trace-rule").value)}`, { method: "DELETE" });
    };
    return close;
  },
};
