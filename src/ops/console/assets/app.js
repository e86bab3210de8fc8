// The console: a hash router over its pages. A page is one file under pages/ exporting
// { title, render(element) }; render may return a function that stops what it started
// (polling, event streams) when another page opens. Add a page with one line below.
import rules from "./pages/rules.js";
import tester from "./pages/tester.js";
import trace from "./pages/trace.js";

const pages = { rules, test: tester, trace };

const nav = document.getElementById("nav");
const main = document.getElementById("page");
let stop = null;

for (const [id, page] of Object.entries(pages)) {
  const a = document.createElement("a");
  a.href = `#${id}`;
  a.id = `nav-${id}`;
  a.textContent = page.title;
  nav.appendChild(a);
}

function open() {
  const id = location.hash.slice(1) || "rules";
  const page = pages[id] || pages.rules;
  if (stop) stop();
  for (const a of nav.children) a.classList.toggle("current", a.id === `nav-${id}`);
  main.replaceChildren();
  stop = page.render(main) || null;
}

window.addEventListener("hashchange", open);
open();
