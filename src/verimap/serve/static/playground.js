// The verimap playground: a form over the server's own routes (GET /info, POST /v2/rerank, POST /explain).
// Nothing here scores. Every text from the user or the server is written with textContent, never as HTML.
"use strict";

const KEY_STORE = "verimap.apiKey";
const AUTO_EXPLAIN = 25; // rows whose reason is fetched right away; the others on click

const $ = (id) => document.getElementById(id);
let info = null; // GET /info of this server, for the threshold and the limits
let run = 0; // bumped by every submission: answers of an older one are dropped
let rows = []; // [{text, result, explanation, tr}]

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = kind || "error";
  box.hidden = !text;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// One call to this server, with the key when one is entered; errors become an ApiError with a line for people.
async function api(path, body) {
  const headers = { Accept: "application/json" };
  const key = $("key").value.trim();
  if (key) headers.Authorization = "Bearer " + key;
  const init = { method: body === undefined ? "GET" : "POST", headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, "Could not reach the server (" + exc.message + "). Is `verimap serve` still running?");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (exc) {
    data = null;
  }
  if (response.ok && data !== null) return data;
  const said = data && typeof data.message === "string" ? data.message : response.statusText || "no details";
  if (response.status === 401) {
    throw new ApiError(401, key
      ? "The server refused the API key (401 Unauthorized): enter the key it was started with."
      : "This server needs an API key (401 Unauthorized): enter it in the API key field.");
  }
  if (response.status === 503) throw new ApiError(503, "The server is not ready: " + said + ". Try again in a few seconds.");
  if (response.status === 413) throw new ApiError(413, "Too much text for one request: " + said + ".");
  if (response.status >= 500) throw new ApiError(response.status, "The server failed (" + response.status + "): " + said);
  throw new ApiError(response.status, "The server refused the request (" + response.status + "): " + said);
}

async function loadInfo() {
  info = await api("/info");
  $("server").textContent = "verimap " + info.version + " · encoder " + info.encoder.id + " · threshold "
    + fmt(info.threshold, 3) + " · at most " + info.limits.max_documents + " candidates per request";
  return info;
}

function fmt(x, digits) {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "–";
}

function reasonText(ex) {
  if (!ex.reason) return "none stands out";
  const pairs = (ex.reason_tokens || []).slice(0, 4).map((p) => p[0] + " ↔ " + p[1]).join(", ");
  return pairs ? ex.reason + " (" + pairs + ")" : ex.reason;
}

function verdictCell(accepted) {
  return el("td", accepted ? "ACCEPT" : "REJECT", "verdict " + (accepted ? "accept" : "reject"));
}

function renderRanking(query, texts, results) {
  const body = $("ranking").tBodies[0];
  body.replaceChildren();
  rows = results.map((r, i) => {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.append(
      el("td", i + 1, "num"),
      el("td", texts[r.index], "text"),
      el("td", fmt(r.relevance_score, 3), "num score"),
      el("td", fmt(r.verifier_score, 3), "num prob"),
      verdictCell(r.verifier_accepted),
      el("td", i < AUTO_EXPLAIN ? "…" : "click to explain", "reason muted"),
    );
    const row = { text: texts[r.index], result: r, explanation: null, tr };
    tr.addEventListener("click", () => select(query, row));
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        select(query, row);
      }
    });
    body.append(tr);
    return row;
  });
  const accepted = results.filter((r) => r.verifier_accepted).length;
  $("summary").textContent = results.length + " candidates, best first; " + accepted + " accepted at threshold "
    + fmt(info.threshold, 3) + " (verifier P(match) ≥ threshold).";
  $("threshold").textContent = "(P ≥ " + fmt(info.threshold, 3) + ")";
  $("results").hidden = false;
}

// POST /explain for one row, once (a click while the reasons are still coming in reuses the same request).
function explainRow(query, row) {
  if (!row.explanation) {
    row.explanation = api("/explain", { query, document: row.text }).then(
      (ex) => {
        const cell = row.tr.cells[5];
        cell.textContent = reasonText(ex);
        cell.className = "reason";
        return ex;
      },
      (exc) => {
        row.explanation = null; // a later click tries again
        throw exc;
      },
    );
  }
  return row.explanation;
}

async function select(query, row, mine) {
  const current = mine === undefined ? run : mine;
  for (const r of rows) r.tr.classList.toggle("selected", r === row);
  try {
    const ex = await explainRow(query, row);
    if (current === run) renderMap(query, row, ex);
  } catch (exc) {
    if (current === run) showMessage(exc.message);
  }
}

function cellColour(c) {
  const t = Math.max(0, Math.min(1, c));
  return "hsl(215, 70%, " + (97 - 60 * t).toFixed(1) + "%)";
}

function renderMap(query, row, ex) {
  $("pair").replaceChildren(
    el("span", "query ", "muted"), el("q", query), el("span", " · candidate ", "muted"), el("q", row.text));
  $("verdict-line").replaceChildren(
    el("span", "score " + fmt(ex.score, 3) + " → "),
    el("span", ex.accepted ? "ACCEPT" : "REJECT", "verdict " + (ex.accepted ? "accept" : "reject")),
    el("span", " (threshold " + fmt(ex.threshold, 3) + ") · reason: " + reasonText(ex)),
  );
  const table = $("heatmap");
  table.replaceChildren();
  const cols = ex.candidate_tokens;
  const head = table.createTHead().insertRow();
  head.append(el("th", "", "corner"));
  for (const tok of cols) head.append(el("th", tok, "col"));
  head.append(el("th", "best match", "best-head"));
  const body = table.createTBody();
  ex.query_tokens.forEach((tok, i) => {
    const tr = body.insertRow();
    tr.append(el("th", tok, "rowhead"));
    const values = ex.map[i] || [];
    const best = ex.best_match[i] || {};
    let bestCol = -1;
    values.forEach((v, j) => {
      if (bestCol < 0 || v > values[bestCol]) bestCol = j;
    });
    values.forEach((v, j) => {
      const td = el("td", fmt(v, 2).replace(/^(-?)0\./, "$1."), "cell");
      td.style.backgroundColor = cellColour(v);
      if (v > 0.55) td.classList.add("dark");
      if (j === bestCol && best.match !== null) td.classList.add("best");
      td.title = tok + " ↔ " + cols[j] + ": " + fmt(v, 4);
      tr.append(td);
    });
    const cos = typeof best.cosine === "number" ? best.cosine : null;
    const label = best.match === null || best.match === undefined ? "∅" : best.match + " " + fmt(cos, 2);
    tr.append(el("td", label, "bestmatch" + (cos !== null && cos < 0.5 ? " weak" : "")));
  });
  $("detail").hidden = false;
}

async function submit(event) {
  event.preventDefault();
  const mine = ++run;
  showMessage("");
  $("results").hidden = true;
  $("detail").hidden = true;
  const query = $("query").value;
  const texts = $("candidates").value.split(/\r?\n/).filter((line) => line.trim() !== "");
  if (!query.trim()) return showMessage("Enter a query.");
  if (texts.length === 0) return showMessage("Enter at least one candidate passage, one per line.");
  $("busy").hidden = false;
  $("rank").disabled = true;
  try {
    if (!info) await loadInfo();
    const limit = info.limits.max_documents;
    if (texts.length > limit) {
      return showMessage("Too many candidates: " + texts.length + " entered, this server takes at most " + limit
        + " per request.");
    }
    const answer = await api("/v2/rerank", { query, documents: texts });
    if (mine !== run) return;
    renderRanking(query, texts, answer.results);
    $("busy").hidden = true;
    $("rank").disabled = false;
    for (const row of rows.slice(0, AUTO_EXPLAIN)) {
      if (mine !== run) return;
      await explainRow(query, row);
    }
  } catch (exc) {
    if (mine === run) showMessage(exc instanceof ApiError ? exc.message : "Something went wrong: " + exc);
  } finally {
    if (mine === run) {
      $("busy").hidden = true;
      $("rank").disabled = false;
    }
  }
}

function start() {
  const key = $("key");
  key.value = sessionStorage.getItem(KEY_STORE) || "";
  key.addEventListener("input", () => {
    sessionStorage.setItem(KEY_STORE, key.value);
    info = null;
  });
  $("form").addEventListener("submit", submit);
  loadInfo().catch((exc) => {
    if (exc.status === 401) showMessage("This server needs an API key: enter it above.", "info");
    else showMessage(exc.message);
  });
}

document.addEventListener("DOMContentLoaded", start);
