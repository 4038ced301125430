// The file browser: a <dialog> over GET /api/v1/files (mount and upload roots) with upload.
import { api, showError, upload } from "./api.js";
import { bytes, el } from "./format.js";

const dialog = () => document.getElementById("file-browser");
const state = { root: "mount", path: "", selected: null, resolve: null, target: "" };

async function list() {
  const $ = (id) => document.getElementById(id);
  const tbody = $("fb-list").querySelector("tbody");
  showError($("fb-error"), null);
  tbody.replaceChildren(el("tr", {}, el("td", { colspan: 3, class: "empty", text: "Loading…" })));
  let data;
  try {
    const q = new URLSearchParams({ path: state.path, root: state.root, limit: "1000" });
    data = await api(`files?${q}`);
  } catch (err) {
    tbody.replaceChildren();
    showError($("fb-error"), err);
    return;
  }
  state.path = data.relative_path || "";
  // breadcrumbs
  const crumbs = $("fb-crumbs");
  const parts = state.path ? state.path.split("/") : [];
  const go = (p) => () => { state.path = p; state.selected = null; updateSelected(); list(); };
  crumbs.replaceChildren(el("a", { onclick: go(""), text: state.root === "mount" ? "shared storage" : "uploads" }));
  parts.forEach((part, i) => crumbs.append(" / ", el("a", { onclick: go(parts.slice(0, i + 1).join("/")), text: part })));
  const rows = [];
  if (data.parent != null && state.path) {
    rows.push(el("tr", { ondblclick: go(parts.slice(0, -1).join("/")), onclick: go(parts.slice(0, -1).join("/")) },
      el("td", {}, el("span", { class: "kind dir", text: "up" }), ".."), el("td"), el("td")));
  }
  for (const item of data.items) {
    const isDir = item.type === "directory";
    const media = item.is_audio || item.is_video;
    const tr = el("tr", { class: !isDir && !media ? "dim" : null, "data-path": item.relative_path, title: item.path },
      el("td", {}, el("span", { class: `kind ${isDir ? "dir" : item.media || "other"}`, text: isDir ? "folder" : item.media || "" }),
        `${item.name}${isDir ? "/" : ""}`),
      el("td", { class: "num", text: isDir ? "" : bytes(item.size_bytes) }),
      el("td", { text: (item.modified || "").replace("T", " ").slice(0, 16) }));
    if (isDir) tr.addEventListener("click", go(item.relative_path));
    else {
      tr.addEventListener("click", () => {
        for (const r of tbody.querySelectorAll("tr[aria-selected]")) r.removeAttribute("aria-selected");
        tr.setAttribute("aria-selected", "true");
        state.selected = item;
        updateSelected();
      });
      tr.addEventListener("dblclick", () => { state.selected = item; choose(); });
    }
    rows.push(tr);
  }
  if (!data.items.length) rows.push(el("tr", {}, el("td", { colspan: 3, class: "empty", text: "This folder is empty." })));
  tbody.replaceChildren(...rows);
}

/** The path to put in master_file/dub_file: relative for the shared storage, absolute for uploads. */
const pathOf = (item) => (state.root === "mount" ? item.relative_path : item.path);

function updateSelected() {
  const $ = (id) => document.getElementById(id);
  $("fb-selected").textContent = state.selected ? pathOf(state.selected) : "";
  $("fb-choose").disabled = !state.selected;
}

function choose() {
  if (!state.selected) return;
  const value = pathOf(state.selected);
  state.resolve?.(value);
  state.resolve = null;
  dialog().close();
}

/** Open the browser; resolves with the chosen path (or null). */
export function pickFile(label = "") {
  const d = dialog();
  document.getElementById("fb-target").textContent = label ? `for ${label}` : "";
  state.selected = null;
  updateSelected();
  list();
  d.showModal();
  return new Promise((resolve) => { state.resolve = resolve; });
}

export function initFileBrowser() {
  const $ = (id) => document.getElementById(id);
  const d = dialog();
  d.addEventListener("close", () => { state.resolve?.(null); state.resolve = null; });
  $("fb-choose").addEventListener("click", (e) => { e.preventDefault(); choose(); });
  $("fb-root").addEventListener("change", (e) => { state.root = e.target.value; state.path = ""; state.selected = null; updateSelected(); list(); });
  $("fb-upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    const bar = $("fb-upload-progress");
    bar.hidden = false;
    bar.value = 0;
    showError($("fb-error"), null);
    try {
      const row = await upload("files/upload", file, (p) => { bar.value = p; });
      state.root = "upload";
      $("fb-root").value = "upload";
      state.path = row.path.split("/").slice(-2, -1)[0] || "";
      await list();
      state.selected = { path: row.path, relative_path: row.path, name: row.name };
      updateSelected();
      const tr = $("fb-list").querySelector(`tr[title="${CSS.escape(row.path)}"]`);
      tr?.setAttribute("aria-selected", "true");
    } catch (err) {
      showError($("fb-error"), err);
    } finally {
      bar.hidden = true;
    }
  });
  // every "Browse…" button fills the input it names
  for (const btn of document.querySelectorAll("[data-browse]")) {
    btn.addEventListener("click", async () => {
      const input = document.getElementById(btn.dataset.browse);
      const value = await pickFile(input.getAttribute("aria-label") || input.name || "");
      if (value) { input.value = value; input.dispatchEvent(new Event("change", { bubbles: true })); }
    });
  }
}
