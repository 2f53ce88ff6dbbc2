// OrderFlow operations console. The admin token lives in sessionStorage
// (this tab only, never a cookie) and goes on every data and action call
// as a bearer token; nothing is shown before a call succeeds, and a 401 or
// 403 clears what was shown.
"use strict";

(function () {
  const KEY = "orderflow-admin-token";
  const REFRESH_MS = 2000;
  const $ = (id) => document.getElementById(id);
  let previous = null; // the last overview, for the deltas
  let inFlight = false;

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    const { dataset, ...rest } = props || {};
    Object.assign(e, rest);
    Object.assign(e.dataset, dataset || {});
    for (const c of children) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function fill(tbody, rows) { tbody.replaceChildren(...rows); }
  function num(n) { return Number(n || 0).toLocaleString("en"); }
  function pct(r) { return (100 * (r || 0)).toFixed(1) + " %"; }
  function secs(s) { return s == null ? "–" : (s < 1 ? (s * 1000).toFixed(0) + " ms" : s.toFixed(1) + " s"); }
  function ago(t) { return t ? secs((Date.now() - Date.parse(t)) / 1000) + " ago" : "–"; }

  function token() { return sessionStorage.getItem(KEY) || ""; }

  function setStatus(text, bad) {
    $("status").textContent = text;
    $("status").className = bad ? "bad" : "";
  }

  // clear hides every figure: nothing stays on screen without a valid token.
  function clear() {
    previous = null;
    $("sections").classList.add("hidden");
    for (const id of ["cache-families", "groups", "instances", "dead-letters", "audit"]) fill($(id), []);
  }

  async function call(method, path, body) {
    const headers = { "Authorization": "Bearer " + token() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401 || res.status === 403) {
      clear();
      setStatus(res.status === 401
        ? "401: the token is missing, malformed or expired; paste an admin token."
        : "403: this token is not an admin's; paste an admin token.", true);
    }
    return { status: res.status, data };
  }

  async function refresh() {
    if (!token()) { clear(); return; }
    if (inFlight) return;
    inFlight = true;
    try {
      const r = await call("GET", "/api/v1/admin/overview");
      if (r.status === 200 && r.data) {
        render(r.data);
        $("sections").classList.remove("hidden");
        setStatus("Updated " + new Date(r.data.at).toLocaleTimeString() + "; refreshes every " + REFRESH_MS / 1000 + " s.");
      } else if (r.status !== 401 && r.status !== 403) {
        setStatus("The overview answered " + r.status + ((r.data && r.data.detail) ? ": " + r.data.detail : ""), true);
      }
    } catch (e) {
      setStatus("The API is unreachable: " + e.message, true);
    } finally {
      inFlight = false;
    }
  }

  function render(o) {
    renderCache(o.cache);
    renderPipeline(o.pipeline);
    renderDeadLetters(o.deadLetters);
    renderReplay(o.replay);
    fill($("audit"), (o.audit || []).map((a) => el("tr", {},
      el("td", {}, new Date(a.at).toLocaleTimeString()), el("td", {}, a.actor), el("td", {}, a.action),
      el("td", {}, a.target || ""), el("td", { className: a.error ? "err" : "" }, a.result + (a.error ? ": " + a.error : "")))));
    previous = o;
  }

  function renderCache(c) {
    const prev = previous ? previous.cache.families : {};
    const names = Object.keys(c.families).sort();
    fill($("cache-families"), names.map((f) => {
      const s = c.families[f], p = prev[f] || s;
      return el("tr", { dataset: { family: f } },
        el("td", {}, f), el("td", { className: "hits" }, num(s.hits)), el("td", { className: "misses" }, num(s.misses)),
        el("td", {}, num(s.stale)), el("td", {}, num(s.loads)), el("td", { className: "ratio" }, pct(s.hitRatio)),
        el("td", {}, num(s.nearHits || 0)),
        el("td", {}, num(s.hits - p.hits)), el("td", {}, num(s.misses - p.misses)));
    }));
    $("api-count").textContent = Object.values(c.breakers || {}).reduce((a, b) => a + b, 0);
    $("redis-keyspace").textContent = c.redis ? num(c.redis.hits) + " hits, " + num(c.redis.misses) + " misses (" + pct(c.redis.hitRatio) + ")" : "–";
    const b = Object.entries(c.breakers || {}).map(([state, n]) => n + " " + state);
    $("breakers").textContent = b.length ? b.join(", ") : "no API instance reporting";
    $("cache-errors").textContent = (c.errors || []).join("; ");
  }

  function renderPipeline(p) {
    $("active-relay").textContent = p.activeRelay || "none";
    $("active-relay").className = p.activeRelay ? "up" : "down";
    $("backlog").textContent = num(p.backlog);
    $("lag").textContent = secs(p.lagSeconds);
    $("inflight").textContent = secs(p.oldestInFlightSeconds);
    fill($("groups"), (p.groups || []).map((g) => el("tr", {}, el("td", {}, g.stream), el("td", {}, g.group), el("td", {}, num(g.lag)), el("td", {}, num(g.pending)))));
    fill($("instances"), (p.instances || []).map((i) => el("tr", {},
      el("td", {}, i.kind), el("td", {}, i.name),
      el("td", {}, i.kind === "relay" ? (i.active ? "active" : "standing by") : (i.kind === "api" ? "breaker " + (i.breaker || "–") : "projecting")),
      el("td", {}, i.kind === "projector" ? num(i.projected) : ""),
      el("td", {}, i.kind === "projector" && i.projected ? secs(i.freshnessSeconds) : ""),
      el("td", {}, ago(i.at)))));
    $("pipeline-errors").textContent = (p.errors || []).join("; ");
  }

  function renderDeadLetters(d) {
    $("dl-count").textContent = num(d.count);
    fill($("dead-letters"), (d.entries || []).map((e) => el("tr", { dataset: { id: e.id } },
      el("td", {}, e.id), el("td", {}, e.eventType || (e.unreadable ? "unreadable" : "–")),
      el("td", {}, e.aggregateId || "–"), el("td", {}, e.version || ""), el("td", {}, e.attempts || ""),
      el("td", { className: "err" }, e.error || ""),
      el("td", {},
        el("button", { type: "button", className: "redrive", onclick: () => act("Re-drive parked entry " + e.id + "?", "POST", "/api/v1/admin/dead-letters/redrive", { ids: [e.id] }) }, "Re-drive"),
        " ",
        el("button", { type: "button", className: "drop", onclick: () => act("Drop parked entry " + e.id + " for good? Its read models may stay stale until a replay.", "POST", "/api/v1/admin/dead-letters/drop", { ids: [e.id] }) }, "Drop")))));
    $("redrive-all").disabled = $("drop-all").disabled = !d.count;
    $("dl-error").textContent = d.error || "";
  }

  function renderReplay(r) {
    $("generation").textContent = r.generation || "(none)";
    const s = r.status;
    const running = s && !["done", "failed", "cancelled", "lost"].includes(s.phase);
    $("replay-phase").textContent = s ? s.phase + (s.cancelRequested && running ? " (cancel requested)" : "") : "none";
    $("replay-events").textContent = num(s ? s.events : 0);
    $("replay-estimate").textContent = num(s ? s.estimate : 0);
    $("replay-rate").textContent = num(s ? Math.round(s.rate) : 0);
    $("replay-eta").textContent = s && running && s.etaSeconds ? secs(s.etaSeconds) : "–";
    $("replay-progress").value = s && s.estimate ? Math.min(1, s.events / s.estimate) : (s && s.phase === "done" ? 1 : 0);
    $("replay-detail").textContent = s ? "Replay " + s.id + " from " + s.from + ", requested by " + s.requestedBy +
      (s.runner ? ", run by " + s.runner : "") + (s.generation ? ", generation " + s.generation : "") + (s.error ? ". " + s.error : "") : "";
    $("start-replay").disabled = !!running;
    $("cancel-replay").disabled = !running;
    const v = r.verify;
    $("verify").textContent = v ? v.verdict + " at " + new Date(v.at).toLocaleString() + ": " + num(v.checked) + " checked, " + num(v.drifted) + " drifted" : "never recorded";
    $("replay-errors").textContent = (r.errors || []).join("; ");
  }

  // confirm shows the in-page confirmation and resolves true on yes.
  function confirmAction(text) {
    return new Promise((resolve) => {
      $("confirm-text").textContent = text;
      $("confirm").classList.remove("hidden");
      const done = (ok) => () => { $("confirm").classList.add("hidden"); $("confirm-yes").onclick = $("confirm-no").onclick = null; resolve(ok); };
      $("confirm-yes").onclick = done(true);
      $("confirm-no").onclick = done(false);
    });
  }

  async function act(question, method, path, body) {
    if (!(await confirmAction(question))) return;
    const out = $("action-result");
    try {
      const r = await call(method, path, body);
      const ok = r.status >= 200 && r.status < 300;
      out.className = ok ? "" : "bad";
      out.textContent = ok ? describe(r.data) : r.status + ": " + ((r.data && r.data.detail) || "refused");
    } catch (e) {
      out.className = "bad";
      out.textContent = "The API is unreachable: " + e.message;
    }
    refresh();
  }

  function describe(d) {
    if (!d) return "Done.";
    if (d.action) return d.action + ": " + d.done + " of " + d.found + " entries.";
    if (d.phase) return "Replay " + d.id + ": " + d.phase + (d.cancelRequested ? " (cancel requested)" : "") + ".";
    return "Done.";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = $("token").value.trim();
      $("token").value = "";
      if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY);
      clear();
      setStatus(t ? "Loading…" : "Paste an admin token.");
      refresh();
    });
    $("forget-token").addEventListener("click", () => { sessionStorage.removeItem(KEY); clear(); setStatus("Token forgotten; paste an admin token."); });
    $("redrive-all").addEventListener("click", () => act("Re-drive every parked entry?", "POST", "/api/v1/admin/dead-letters/redrive", { all: true }));
    $("drop-all").addEventListener("click", () => act("Drop every parked entry for good? Their read models may stay stale until a replay.", "POST", "/api/v1/admin/dead-letters/drop", { all: true }));
    $("start-replay").addEventListener("click", () => {
      const from = $("replay-from").value;
      act("Start a replay from " + from + "? It rebuilds every projection into a new generation while the system runs.", "POST", "/api/v1/admin/replay", { from });
    });
    $("cancel-replay").addEventListener("click", () => act("Cancel the replay? Readers keep the current generation.", "POST", "/api/v1/admin/replay/cancel"));
    refresh();
    setInterval(refresh, REFRESH_MS);
  });
})();
