// A small YAML emitter for JSON values (objects as `kubectl get -o yaml` shows them): block
// maps and sequences, plain scalars where YAML 1.1 and 1.2 read them back as the same string,
// double quotes (JSON's escapes are YAML's) elsewhere, and literal blocks for multi-line text.

const RESERVED = /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|\.nan|\.NaN|\.inf|\.Inf|[-+]?\.inf|[-+]?\.Inf)$/;
const NUMBERLIKE = /^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^0x[0-9a-fA-F_]+$|^0o?[0-7_]+$|^[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
const SAFE = /^(?:[A-Za-z0-9_./(]|-(?=[^\s]))[A-Za-z0-9 _./:@()+,=*$%^-]*$/;

export function quoteIfNeeded(s) {
  if (s === "" || RESERVED.test(s) || NUMBERLIKE.test(s) || !SAFE.test(s) ||
      s.endsWith(" ") || s.endsWith(":") || s.includes(": ") || s.includes(" #") ||
      /^\d{4}-\d\d-\d\d/.test(s)) {
    return JSON.stringify(s);
  }
  return s;
}

function scalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean") return String(v);
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : JSON.stringify(String(v));
  return quoteIfNeeded(String(v));
}

function isBlock(v) {
  return v !== null && typeof v === "object" && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0);
}

function inline(v) {
  if (Array.isArray(v)) return "[]";
  if (v !== null && typeof v === "object") return "{}";
  return scalar(v);
}

// A multi-line string as a literal block (|, or |- without a final newline), when it can be.
function literal(s, pad) {
  if (!s.includes("\n") || /^[ \t]|[ \t]\n|\r|[\u0000-\u0008\u000b-\u001f]/.test(s)) return null;
  const chomp = s.endsWith("\n") ? (s.endsWith("\n\n") ? "+" : "") : "-";
  const body = (chomp === "-" ? s : s.replace(/\n$/, "")).split("\n").map((l) => (l ? pad + l : ""));
  return ["|" + chomp, ...body];
}

// The lines of `v` as the value after "key:" or "- " at indentation `pad`.
function value(v, pad, out, head) {
  if (typeof v === "string") {
    const block = literal(v, pad + "  ");
    if (block) {
      out.push(head + " " + block[0], ...block.slice(1));
      return;
    }
  }
  if (!isBlock(v)) {
    out.push(head + " " + inline(v));
    return;
  }
  if (Array.isArray(v)) {
    out.push(head);
    sequence(v, pad, out); // kubectl's style: a list under a key is not indented further
  } else {
    out.push(head);
    mapping(v, pad + "  ", out);
  }
}

function mapping(obj, pad, out) {
  for (const [k, v] of Object.entries(obj)) value(v, pad, out, pad + quoteIfNeeded(k) + ":");
}

function sequence(arr, pad, out) {
  for (const item of arr) {
    if (isBlock(item) && !Array.isArray(item)) {
      const inner = [];
      mapping(item, pad + "  ", inner);
      inner[0] = pad + "- " + inner[0].slice(pad.length + 2);
      out.push(...inner);
    } else if (isBlock(item)) {
      const inner = [];
      sequence(item, pad + "  ", inner);
      inner[0] = pad + "- " + inner[0].slice(pad.length + 2);
      out.push(...inner);
    } else {
      value(item, pad + "  ", out, pad + "-");
    }
  }
}

export function toYAML(v) {
  if (!isBlock(v)) return inline(v) + "\n";
  const out = [];
  if (Array.isArray(v)) sequence(v, "", out);
  else mapping(v, "", out);
  return out.join("\n") + "\n";
}
