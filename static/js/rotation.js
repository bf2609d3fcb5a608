// Connected clients: the rotate page asks for them by POST (<form data-clients-form>) as soon
// as it loads, and again on its button; a GET of the page never contacts the instance.
async function listClients(form, result) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  result.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value,
        "X-Requested-With": "fetch",
      },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const html = new DOMParser().parseFromString(await response.text(), "text/html");
    result.replaceChildren(...html.body.childNodes);
    button.textContent = "List again";
  } catch (error) {
    const message = document.createElement("p");
    message.className = "error";
    message.textContent = `Could not list the connected clients (${error.message}).`;
    result.replaceChildren(message);
  } finally {
    result.removeAttribute("aria-busy");
    button.disabled = false;
  }
}

function initClients(root) {
  root.querySelectorAll("[data-clients-form]").forEach((form) => {
    const result = form.parentElement.querySelector("[data-clients-result]");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      listClients(form, result);
    });
    listClients(form, result);
  });
}

// Live rotation progress: while the rotate form's POST runs the steps on the server, poll
// the recorded steps (<form data-rotation-form data-progress-url data-latest>) and list them.
const LABELS = {
  rotation_started: "New password stored encrypted as pending",
  rotation_applied: "Applied on the server",
  rotation_verified: "Verified with a fresh login",
  rotation_promoted: "Promoted to the stored password",
  rotation_resumed: "Resumed: applying the new password again",
  rotation_grace: "Old password kept for the grace period",
  rotation_old_revoked: "Old password removed",
  rotation_done: "Done",
  rotation_undo_started: "Undo started",
  rotation_undone: "Undone",
  rotation_needs_attention: "Needs attention",
};

function render(list, steps) {
  list.replaceChildren(
    ...steps.map((step) => {
      const item = document.createElement("li");
      const when = new Date(step.at).toLocaleTimeString();
      item.textContent = `${when} ${LABELS[step.action] || step.action} (${step.outcome})`;
      return item;
    }),
  );
}

async function poll(form, list) {
  try {
    const response = await fetch(form.dataset.progressUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) return;
    const data = await response.json();
    if (data.rotation && data.rotation !== form.dataset.latest) render(list, data.steps);
  } catch {
    // The page is navigating to the result; nothing to do.
  }
}

export function initRotation(root) {
  initClients(root);
  root.querySelectorAll("[data-rotation-form]").forEach((form) => {
    const live = root.querySelector("[data-rotation-live]");
    const list = root.querySelector("[data-rotation-steps]");
    form.addEventListener("submit", () => {
      form.querySelector("button[type=submit]").disabled = true;
      if (!live || !list) return;
      live.hidden = false;
      setInterval(() => poll(form, list), 500);
    });
  });
}
