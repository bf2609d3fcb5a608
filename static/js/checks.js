// Connection test: POSTs the form, reads the NDJSON stream and fills in each step as it
// arrives (status as text and symbol, time, message, hint), then the TLS and server details.
const LABELS = {
  ok: "✓ OK",
  warn: "! Warning",
  fail: "✗ Failed",
  skipped: "○ Skipped",
  pending: "· Waiting",
  running: "… Running",
};
const SUMMARY = { ok: "OK", warn: "Works, with warnings", fail: "Failed" };

export function initConnectionTest(root) {
  root.querySelectorAll("[data-check-form]").forEach((form) => {
    const container = form.closest("[data-check]");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      runTest(form, container);
    });
  });
}

async function runTest(form, container) {
  const button = form.querySelector("button[type=submit]");
  const summary = container.querySelector("[data-check-summary]");
  button.disabled = true;
  container.querySelectorAll("[data-step]").forEach((item) => setStep(item, { status: "pending" }));
  container.querySelector("[data-check-details]").replaceChildren();
  summary.textContent = "Testing…";
  try {
    // Test before saving sends the values of the instance form it names.
    const fields = form.dataset.checkFields && document.getElementById(form.dataset.checkFields);
    const response = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      body: fields ? new FormData(fields) : undefined,
      headers: {
        Accept: "application/x-ndjson",
        "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value,
      },
    });
    if (!response.ok) {
      summary.textContent = await failureText(response);
      return;
    }
    for await (const event of readLines(response.body)) handle(event, container, summary);
  } catch (error) {
    summary.textContent = `The test could not finish: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

async function failureText(response) {
  if (response.status === 403) return "Your role in this team does not allow running tests.";
  if ([400, 429].includes(response.status) || response.headers.get("Content-Type")?.startsWith("text/plain")) {
    return (await response.text()).trim();
  }
  return `The test could not start (HTTP ${response.status}). Reload the page and try again.`;
}

async function* readLines(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (buffer.trim()) yield JSON.parse(buffer);
}

function handle(event, container, summary) {
  const items = [...container.querySelectorAll("[data-step]")];
  if (event.event === "start") {
    markRunning(items[0]);
  } else if (event.event === "step") {
    const index = items.findIndex((item) => item.dataset.step === event.step.name);
    setStep(items[index], event.step);
    markRunning(items[index + 1]);
  } else if (event.event === "done") {
    const report = event.report;
    summary.textContent = `${SUMMARY[report.status]} in ${report.duration_ms} ms.`;
    container.querySelector("[data-check-details]").replaceChildren(...details(report));
  }
}

function markRunning(item) {
  if (item && item.dataset.status === "pending") setStep(item, { status: "running" });
}

function setStep(item, step) {
  item.dataset.status = step.status;
  const status = item.querySelector("[data-step-status]");
  status.textContent = LABELS[step.status];
  status.className = `step-status check-${step.status}`;
  item.querySelector("[data-step-time]").textContent =
    step.duration_ms === undefined ? "" : `${step.duration_ms} ms`;
  item.querySelector("[data-step-message]").textContent = step.message || "";
  const hint = item.querySelector("[data-step-hint]");
  hint.querySelector("[data-step-hint-text]").textContent = step.hint || "";
  hint.hidden = !step.hint;
}

function details(report) {
  const parts = [];
  if (report.tls) {
    const rows = [["Protocol", report.tls.version], ["Cipher", report.tls.cipher]];
    const cert = report.tls.certificate;
    if (cert) {
      rows.push(
        ["Subject", cert.subject],
        ["Issuer", cert.issuer],
        ["Expires", `${cert.not_after} (${cert.days_left} days left)`],
        ["Host name matches", cert.hostname_match ? "yes" : "no"],
        ["Chain trusted", cert.chain_valid ? "yes" : "no"],
      );
    }
    parts.push(heading("TLS"), list(rows));
  }
  if (report.server) {
    const { version, connections, max_connections: max } = report.server;
    parts.push(
      heading("Server"),
      list([["Version", version], ["Connections", `${connections ?? "?"} of ${max ?? "?"}`]]),
    );
  }
  return parts;
}

function heading(text) {
  const element = document.createElement("h3");
  element.textContent = text;
  return element;
}

function list(rows) {
  const dl = document.createElement("dl");
  dl.className = "fields";
  for (const [term, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  }
  return dl;
}
