// Rule tester: a message through an existing rule or a SQL statement, with the service's
// engine (POST /api/test): the output or the error with line:col, and the rendered action
// fields of an existing rule.

export default {
  title: "Test a rule",
  render(el) {
    el.innerHTML = `<div class="columns"><div>
        <label for="test-rule">Rule</label><select id="test-rule"><option value="">SQL below</option></select>
        <label for="test-sql">SQL</label><textarea id="test-sql">SELECT * FROM 'sensors/+/data'</textarea>
        <label for="test-topic">Topic</label><input id="test-topic" value="sensors/kitchen/data">
        <label for="test-payload">Payload</label><textarea id="test-payload">{"temperature": 35}</textarea>
        <label for="test-client">Client id</label><input id="test-client" value="">
        <label for="test-properties">MQTT 5 user properties (key=value, one a line)</label><textarea id="test-properties"></textarea>
        <button id="test-run">Run</button>
      </div><div><label>Result</label><pre id="test-result" class="muted">Run a message through a rule.</pre>
        <table id="test-targets"></table></div></div>`;
    const $ = (id) => el.querySelector(`#${id}`);
    fetch("/rules").then((r) => r.json()).then((rules) => {
      for (const r of rules.filter((r) => r.loaded)) $("test-rule").add(new Option(r.name, r.name));
    });
    $("test-rule").onchange = () => { $("test-sql").disabled = $("test-rule").value !== ""; };
    $("test-run").onclick = async () => {
      const rule = $("test-rule").value;
      const body = {
        topic: $("test-topic").value,
        payload: $("test-payload").value,
        client_id: $("test-client").value,
        user_properties: $("test-properties").value.split("\n").filter((l) => l.includes("="))
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
        ...(rule ? { rule } : { sql: $("test-sql").value }),
      };
      const response = await fetch("/api/test", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const r = await response.json();
      const out = $("test-result");
      const targets = $("test-targets");
      targets.replaceChildren();
      if (!response.ok) {
        out.className = "bad";
        out.textContent = r.message;
      } else if (r.error) {
        out.className = "bad";
        out.textContent = `${r.error.line}:${r.error.col}: ${r.error.message}`;
      } else if (r.fired) {
        out.className = "ok";
        out.textContent = `fired\n${r.output}`;
        for (const [name, value] of Object.entries(r.targets)) {
          const row = targets.insertRow();
          row.insertCell().textContent = name;
          row.insertCell().textContent = value;
        }
      } else {
        out.className = "muted";
        out.textContent = !r.topic_matches
          ? "did not fire: the topic does not match the rule's FROM filter"
          : r.parse_error ? "did not fire: the payload is malformed JSON (ParseError)" : "did not fire";
      }
    };
  },
};
