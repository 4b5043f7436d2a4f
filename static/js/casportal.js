// Progressive enhancement only: every page works without it.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll('[data-bs-toggle="tooltip"]').forEach((el) => new bootstrap.Tooltip(el));
  labelTableCells(document);
  document.querySelectorAll("[data-select-all]").forEach(selectAll);
  document.body.addEventListener("htmx:afterSwap", (event) => labelTableCells(event.target));
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});

// On narrow screens tables stack (casportal.css): each cell shows its column's heading as a label.
function labelTableCells(root) {
  root.querySelectorAll("main table.table").forEach((table) => {
    const headings = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((row) => {
      Array.from(row.children).forEach((cell, index) => {
        if (headings[index] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", headings[index]);
      });
    });
  });
}

// A list of checkboxes gets "Select all", and its submit button says how many users it adds: "Add selected users (3)".
function selectAll(toggle) {
  const form = toggle.closest("form");
  const boxes = () => Array.from(form.querySelectorAll('input[name="members"]:not(:disabled)'));
  const button = form.querySelector("[data-selected-count]");
  const update = () => {
    const all = boxes();
    const chosen = all.filter((box) => box.checked).length;
    toggle.checked = all.length > 0 && chosen === all.length;
    toggle.indeterminate = chosen > 0 && chosen < all.length;
    if (button) button.textContent = chosen === 0 ? "Add selected users" : `Add selected users (${chosen})`;
  };
  toggle.closest(".form-check").hidden = false;
  toggle.disabled = boxes().length === 0;
  toggle.addEventListener("change", () => {
    boxes().forEach((box) => { box.checked = toggle.checked; });
    update();
  });
  form.addEventListener("change", (event) => { if (event.target.name === "members") update(); });
  update();
}
