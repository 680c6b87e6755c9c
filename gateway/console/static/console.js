// genai-flow console: live updates with no library. A job page follows its events (EventSource on the job's
// signed events URL); the job list refreshes its table every few seconds.
"use strict";

function followJob(section) {
  const steps = document.getElementById("live-steps");
  const state = document.getElementById("live-state");
  const texts = {};
  let deltas = 0;
  const textOf = (step) => {
    if (!texts[step]) {
      const box = document.createElement("div");
      box.innerHTML = "<h3></h3><div class='live-text'></div>";
      box.querySelector("h3").textContent = step;
      box.dataset.step = step;
      steps.appendChild(box);
      texts[step] = box.querySelector(".live-text");
    }
    return texts[step];
  };
  const source = new EventSource(section.dataset.events);
  const data = (e) => { try { return JSON.parse(e.data); } catch (_) { return {}; } };
  source.addEventListener("token", (e) => {
    const ev = data(e);
    const box = textOf(ev.step || "output");
    box.textContent += (ev.data && ev.data.delta) || "";
    deltas += 1;
    section.dataset.deltas = String(deltas);
  });
  source.addEventListener("step.retrying", (e) => {
    const ev = data(e);
    textOf(ev.step || "output").textContent = "";  // a retry starts the step's text again
    state.textContent = `${ev.step} retrying (attempt ${(ev.data || {}).attempt})`;
  });
  source.addEventListener("step.started", (e) => { state.textContent = `${data(e).step} running…`; });
  source.addEventListener("awaiting_approval", () => { state.textContent = "waiting for approval"; });
  const finish = (label) => () => {
    source.close();
    state.textContent = label;
    section.dataset.done = label;
    setTimeout(() => window.location.reload(), 300);  // the closed job's page shows citations and cost
  };
  for (const kind of ["job.completed", "job.failed", "job.dead_lettered"]) source.addEventListener(kind, finish(kind));
  source.onerror = () => { state.textContent = "reconnecting…"; };
}

function refreshJobs(box) {
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const response = await fetch(box.dataset.refresh, { credentials: "same-origin" });
      if (response.ok && !response.redirected) box.innerHTML = await response.text();
    } catch (_) { /* the next tick tries again */ }
  }, 4000);
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) followJob(live);
  const jobs = document.getElementById("jobs-live");
  if (jobs) refreshJobs(jobs);
});
