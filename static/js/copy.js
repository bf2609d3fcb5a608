// Copy buttons: <button data-copy-target="ID"> copies the text of element ID.
export function initCopyButtons(root) {
  root.querySelectorAll("[data-copy-target]").forEach((button) => {
    button.addEventListener("click", async () => {
      const target = document.getElementById(button.dataset.copyTarget);
      if (!target) return;
      await navigator.clipboard.writeText(target.textContent);
      flash(button, "Copied");
    });
  });
}

// Shows `text` on the button for a moment and announces it to screen readers.
export function flash(button, text) {
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  button.textContent = text;
  const live = document.getElementById("live-status");
  if (live) live.textContent = text;
  setTimeout(() => {
    button.textContent = original;
    if (live) live.textContent = "";
  }, 1500);
}
