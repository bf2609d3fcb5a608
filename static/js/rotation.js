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
