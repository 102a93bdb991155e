// Paperchain receipt verification, in the voter's own browser (docs/spec.md §21.3).
//
// An ES module without DOM: the receipt checker page imports it, and the test suite
// runs the same file under Node against the Python implementation. It trusts neither
// the kiosk nor the ledger operator: it needs only the election's pinned setup hash,
// the group parameters and the witnesses' URLs, and it
//   1. reads the setup (ledger entry 0) and checks its leaf hash against the pin;
//   2. takes tree heads from the witnesses directly, verifies the operator's Ed25519
//      signature and counts valid cosignatures of distinct registered witnesses;
//   3. finds the entry (the receipt's signed promise, or the operator's index for a
//      typed code), fetches it and its RFC 9162 inclusion proof from a witness, and
//      checks the proof against the cosigned root, the writer's signature, and that
//      the tracking code is the hash of the entry's ciphertexts;
//   4. authenticates the key ceremony's close (K, H_E) by the envelopes' hash chain up
//      to it, its inclusion proof and the trustees' signatures;
//   5. for a challenged ballot, re-encrypts the published opening (BigInt modular
//      exponentiation) and reports the choices the ballot encrypts.
// Hashes are SHA-256 through WebCrypto; Ed25519 is @noble/ed25519 (vendored).
import * as ed from "./vendor/noble-ed25519.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export class VerifyError extends Error {
  constructor(message, where) {
    super(where ? message + " (" + where + ")" : message);
    this.reason = message;
    this.where = where || null;
  }
}

// --- bytes ---------------------------------------------------------------------------------
export function hexToBytes(hex) {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || /[^0-9a-f]/.test(hex)) {
    throw new VerifyError("expected lowercase hexadecimal");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}
export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
export function concat(...parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}
function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
function u32(n) { return new Uint8Array([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]); }
function u64(n) {
  let value = BigInt(n);
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) { out[i] = Number(value & 255n); value >>= 8n; }
  return out;
}
function field(bytes) { return concat(u32(bytes.length), bytes); }
export function bigFromBytes(bytes) {
  return bytes.length ? BigInt("0x" + bytesToHex(bytes)) : 0n;
}
export function bigToBytes(value, width) {
  const hex = value.toString(16).padStart(2 * width, "0");
  if (hex.length > 2 * width) throw new VerifyError("number too wide");
  return hexToBytes(hex);
}
function base64ToBytes(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new VerifyError("not base64");
  }
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

class Reader {
  constructor(bytes, what) { this.bytes = bytes; this.at = 0; this.what = what; }
  take(n, label) {
    if (this.at + n > this.bytes.length) throw new VerifyError("truncated: " + label, this.what);
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u8(label) { return this.take(1, label)[0]; }
  u32(label) { const b = this.take(4, label); return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3]; }
  u64(label) { return bigFromBytes(this.take(8, label)); }
  field(label, max) {
    const n = this.u32(label);
    if (n > max) throw new VerifyError(label + " too long", this.what);
    return this.take(n, label);
  }
  text(label, max) { return decoder.decode(this.field(label, max)); }
  end() { if (this.at !== this.bytes.length) throw new VerifyError("trailing bytes", this.what); }
}

// --- SHA-256 and the tagged hash of e2e/hashing.py ------------------------------------------
export async function sha256(bytes) {
  return new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
}
// Field values: Uint8Array (bytes), string (UTF-8), {int: n} (u64), {p: x} / {q: e}
// (fixed-width group values), arrays (sequences).
export function int(n) { return { int: BigInt(n) }; }
function encodeField(value, group) {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  if (Array.isArray(value)) {
    const parts = [u32(value.length)];
    for (const item of value) parts.push(field(encodeField(item, group)));
    return concat(...parts);
  }
  if (value && value.int !== undefined) return u64(value.int);
  if (value && value.p !== undefined) return bigToBytes(value.p, group.pBytes);
  if (value && value.q !== undefined) return bigToBytes(value.q, group.qBytes);
  throw new VerifyError("cannot hash this value");
}
export async function hashFields(tag, fields, group) {
  const parts = [field(encoder.encode("paperchain/v1/" + tag))];
  for (const value of fields) parts.push(field(encodeField(value, group)));
  return sha256(concat(...parts));
}

// --- Ed25519 over tag ‖ election ‖ message (e2e/signing.py) ----------------------------------
export function signedMessage(tag, electionId, message) {
  return concat(field(encoder.encode("paperchain/v1/sig/" + tag)),
    field(encoder.encode(electionId)), field(message));
}
export async function verifySignature(keyHex, tag, electionId, message, signature) {
  let ok = false;
  try {
    ok = await ed.verifyAsync(signature, signedMessage(tag, electionId, message),
      hexToBytes(keyHex), { zip215: false });
  } catch (e) { ok = false; }
  return ok;
}

// --- the group ------------------------------------------------------------------------------
export function makeGroup(params) {
  const p = BigInt("0x" + params.p), q = BigInt("0x" + params.q), g = BigInt("0x" + params.g);
  const bits = (x) => x.toString(2).length;
  return { name: params.name, p, q, g, pBytes: Math.ceil(bits(p) / 8), qBytes: Math.ceil(bits(q) / 8) };
}
// Left-to-right exponentiation with a 4-bit fixed window.
export function modPow(base, exponent, modulus) {
  if (modulus === 1n) return 0n;
  base %= modulus;
  const table = [1n, base];
  for (let i = 2; i < 16; i++) table.push((table[i - 1] * base) % modulus);
  const hex = exponent.toString(16);
  let result = 1n;
  for (const digit of hex) {
    result = (result * result) % modulus;
    result = (result * result) % modulus;
    result = (result * result) % modulus;
    result = (result * result) % modulus;
    const d = parseInt(digit, 16);
    if (d) result = (result * table[d]) % modulus;
  }
  return result;
}
function element(group, hex, where) {
  if (typeof hex !== "string" || hex.length !== 2 * group.pBytes || /[^0-9a-f]/.test(hex)) {
    throw new VerifyError("an element is " + 2 * group.pBytes + " lowercase hex digits", where);
  }
  const x = BigInt("0x" + hex);
  if (x <= 0n || x >= group.p) throw new VerifyError("element out of range", where);
  return x;
}

// --- RFC 9162 Merkle inclusion (§2.1.3.2) ---------------------------------------------------
export async function leafHash(envelope) { return sha256(concat(new Uint8Array([0]), envelope)); }
export async function verifyInclusion(leaf, index, size, proof, root) {
  let fn = BigInt(index), sn = BigInt(size) - 1n;
  if (fn > sn) throw new VerifyError("index beyond the tree");
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerifyError("inclusion proof too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(concat(new Uint8Array([1]), p, r));
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await sha256(concat(new Uint8Array([1]), r, p));
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n || !equal(r, root)) {
    throw new VerifyError("the inclusion proof does not lead to the cosigned root");
  }
}

// --- envelopes and entries (docs/spec.md §7.2–7.3) ----------------------------------------------
export function decodeEnvelope(bytes, where) {
  const r = new Reader(bytes, where);
  if (decoder.decode(r.take(4, "magic")) !== "PCEV" || r.u8("version") !== 1) {
    throw new VerifyError("not a version-1 envelope", where);
  }
  const index = r.u64("index");
  const previous = r.take(32, "previous");
  const entryBytes = r.field("entry", 32 << 20);
  r.end();
  return { index, previous, entryBytes };
}
export function decodeEntry(bytes, where) {
  const r = new Reader(bytes, where);
  if (decoder.decode(r.take(4, "magic")) !== "PCLE" || r.u8("version") !== 1) {
    throw new VerifyError("not a version-1 entry", where);
  }
  const type = r.text("type", 64), electionId = r.text("election", 64);
  const writer = r.text("writer", 64), sequence = r.u64("sequence");
  const payload = r.field("payload", 16 << 20), signature = r.field("signature", 64);
  r.end();
  const signed = concat(field(encoder.encode(type)), field(encoder.encode(writer)),
    u64(sequence), field(payload));
  return { type, electionId, writer, sequence, payload, signature, signed };
}

// --- signed notes: tree heads and cosignatures (e2e/ledger/heads.py) -------------------------
export function parseNote(note) {
  const split = note.indexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new VerifyError("not a signed note");
  const body = note.slice(0, split + 1);
  const lines = body.split("\n");
  if (lines.length !== 6 || !lines[3].startsWith("election ") || !lines[4].startsWith("time ")) {
    throw new VerifyError("not a tree head");
  }
  const head = { origin: lines[0], size: BigInt(lines[1]), root: base64ToBytes(lines[2]),
    electionId: lines[3].slice(9), time: BigInt(lines[4].slice(5)), body };
  const signatures = note.slice(split + 2).split("\n").slice(0, -1);
  const cosignatures = [];
  let operator = null;
  signatures.forEach((line, number) => {
    const parts = line.split(" ");
    if (parts.length !== 3 || parts[0] !== "\u2014") throw new VerifyError("bad signature line");
    const raw = base64ToBytes(parts[2]);
    if (number === 0) {
      if (parts[1] !== head.origin || raw.length !== 68) throw new VerifyError("bad operator line");
      operator = raw.subarray(4);
    } else {
      if (raw.length !== 76) throw new VerifyError("bad cosignature line");
      cosignatures.push({ witness: parts[1], time: bigFromBytes(raw.subarray(4, 12)),
        signature: raw.subarray(12) });
    }
  });
  if (!operator) throw new VerifyError("no operator signature");
  return { head, operator, cosignatures };
}

async function validCosigners(parsed, setup) {
  const valid = new Set();
  for (const c of parsed.cosignatures) {
    const key = setup.witnessKeys[c.witness];
    if (!key || valid.has(c.witness)) continue;
    const message = concat(encoder.encode("paperchain-cosignature/v1\ntime " + c.time + "\n"),
      encoder.encode(parsed.head.body));
    if (await verifySignature(key, "cosignature", setup.electionId, message, c.signature)) {
      valid.add(c.witness);
    }
  }
  return [...valid].sort();
}

// --- the setup, the ceremony's close, the ballot ------------------------------------------
function parseJson(bytes, where) {
  try { return JSON.parse(decoder.decode(bytes)); }
  catch (e) { throw new VerifyError("not JSON", where); }
}

export function readSetup(payload, config) {
  const setup = parseJson(payload, "setup");
  if (setup.version !== 1) throw new VerifyError("unknown setup version", "setup");
  if (setup.election_id !== config.election_id) {
    throw new VerifyError("the setup is for another election", "setup");
  }
  if (setup.group !== config.group.name) {
    throw new VerifyError("the setup's group is not " + config.group.name, "setup");
  }
  const manifest = parseJson(hexToBytes(setup.manifest), "manifest");
  const witnessKeys = {}, deviceKeys = {}, trusteeKeys = {};
  for (const w of setup.witnesses) witnessKeys[w.witness_id] = w.key;
  for (const w of setup.writers) if (w.role === "device") deviceKeys[w.writer_id] = w.key;
  for (const t of setup.trustees) trusteeKeys[t.index] = t.signing_key;
  return { electionId: setup.election_id, origin: setup.operator.origin,
    operatorKey: setup.operator.key, witnessKeys, witnessThreshold: setup.witness_threshold,
    threshold: setup.threshold, deviceKeys, trusteeKeys, manifest,
    witnessUrls: Object.fromEntries(setup.witnesses.map((w) => [w.witness_id, w.url])) };
}

// --- the receipt's QR (paper/payload.py, kind 0x02) -----------------------------------------
export function decodeReceipt(bytes) {
  const r = new Reader(bytes, "receipt QR");
  if (r.u8("header") !== 0xa1 || r.u8("kind") !== 0x02) {
    throw new VerifyError("this QR code is not a Paperchain receipt");
  }
  const length = r.u8("election ID length");
  const electionId = decoder.decode(r.take(length, "election ID"));
  const trackingCode = r.take(32, "tracking code");
  const status = r.u8("status");
  const flags = r.u8("flags");
  if (![1, 2].includes(status) || (flags & ~1)) throw new VerifyError("malformed receipt");
  const promiseBytes = r.take(104, "promise");
  const signed = bytes.subarray(0, r.at);
  const signature = r.take(64, "signature");
  r.end();
  return { electionId, trackingCode, status: status === 1 ? "cast" : "challenged",
    test: (flags & 1) === 1, signed, signature,
    promise: { index: bigFromBytes(promiseBytes.subarray(0, 8)), leafHash: promiseBytes.subarray(8, 40),
      signature: promiseBytes.subarray(40), message: promiseBytes.subarray(0, 40) } };
}

// --- tracking codes as printed (paper/ids.py) -------------------------------------------------
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK = ALPHABET + "*~$=U";
export function parseTrackingCode(text) {
  const compact = Array.from(String(text).toUpperCase()).filter((c) => c !== " " && c !== "-")
    .map((c) => (c === "O" ? "0" : c === "I" || c === "L" ? "1" : c));
  if (/^[0-9a-fA-F]{64}$/.test(String(text).trim())) return hexToBytes(String(text).trim().toLowerCase());
  if (compact.length !== 53) {
    throw new VerifyError("a tracking code has 52 symbols and a check symbol (53), this has " + compact.length);
  }
  let value = 0n;
  for (const c of compact.slice(0, 52)) {
    const v = ALPHABET.indexOf(c);
    if (v < 0) throw new VerifyError("'" + c + "' is not a tracking code symbol");
    value = value * 32n + BigInt(v);
  }
  if (value >> 256n) throw new VerifyError("the first symbol is out of range: misread?");
  if (CHECK.indexOf(compact[52]) !== Number(value % 37n)) {
    throw new VerifyError("the check symbol does not match: the code was misread or mistyped");
  }
  return bigToBytes(value, 32);
}
export function formatTrackingCode(code) {
  let value = bigFromBytes(code);
  const check = CHECK[Number(value % 37n)];
  let symbols = "";
  for (let i = 0; i < 52; i++) { symbols = ALPHABET[Number(value & 31n)] + symbols; value >>= 5n; }
  const all = symbols + check;
  const groups = [];
  for (let i = 0; i < all.length; i += 4) groups.push(all.slice(i, i + 4));
  if (groups.length > 1 && groups[groups.length - 1].length === 1) {
    groups.splice(-2, 2, groups[groups.length - 2] + groups[groups.length - 1]);
  }
  return groups.join(" ");
}

// --- the Benaloh check (e2e/ballot.py verify_opening) ------------------------------------------
export async function ballotTrackingCode(group, extended, ballot) {
  const rows = ballot.contests.map((c, ci) => c.selections.map((s, si) => [
    { p: element(group, s.alpha, "contest " + ci + " selection " + si + " alpha") },
    { p: element(group, s.beta, "contest " + ci + " selection " + si + " beta") }]));
  return hashFields("tracking-code", [extended, hexToBytes(ballot.previous_code), ballot.device_id,
    ballot.style_id, rows], group);
}

export async function verifyOpening(group, jointKey, extended, manifest, ballot, opening, progress) {
  const votes = opening.votes;
  if (JSON.stringify(votes.map((v) => v.index)) !== JSON.stringify(ballot.contests.map((c) => c.index))) {
    throw new VerifyError("the opening's contests differ from the ballot's");
  }
  const nonce = hexToBytes(opening.master_nonce);
  const total = ballot.contests.reduce((n, c) => n + c.selections.length, 0);
  let done = 0;
  const shown = [];
  for (let k = 0; k < votes.length; k++) {
    const contestIndex = votes[k].index;
    const contest = manifest.contests[contestIndex];
    const encrypted = ballot.contests[k];
    if (!contest || votes[k].votes.length !== encrypted.selections.length ||
        votes[k].votes.length !== contest.selections.length) {
      throw new VerifyError("the opening's selections differ from the ballot's", "contest " + contestIndex);
    }
    const sum = votes[k].votes.reduce((a, b) => a + b, 0);
    if (sum > contest.vote_for) throw new VerifyError("the opening shows more votes than allowed");
    for (let j = 0; j < encrypted.selections.length; j++) {
      const vote = votes[k].votes[j];
      if (vote !== 0 && vote !== 1) throw new VerifyError("a vote is 0 or 1");
      const digest = await hashFields("selection-nonce", [extended, nonce, int(contestIndex), int(j)], group);
      const r = bigFromBytes(digest) % group.q;
      const alpha = modPow(group.g, r, group.p);
      const beta = ((vote ? group.g : 1n) * modPow(jointKey, r, group.p)) % group.p;
      const where = "contest " + contestIndex + " selection " + j;
      if (alpha !== element(group, encrypted.selections[j].alpha, where) ||
          beta !== element(group, encrypted.selections[j].beta, where)) {
        throw new VerifyError("re-encryption differs from the ballot", where);
      }
      done += 1;
      if (progress) await progress(done, total);
    }
    shown.push({ contest: contest.id, title: contest.title,
      choices: contest.selections.filter((_, j) => votes[k].votes[j] === 1).map((s) => s.label) });
  }
  return shown;
}

// A ballot entry's payload: canonical JSON (version 1), or for a cast ballot the compact
// form "PCCB" ‖ u8(2) ‖ EncryptedBallot.to_compact() (e2e/voting.py, e2e/ballot.py).
export function decodeBallotPayload(group, bytes, where) {
  if (bytes.length >= 4 && decoder.decode(bytes.subarray(0, 4)) === "PCCB") {
    const r = new Reader(bytes, where);
    r.take(4, "magic");
    if (r.u8("payload version") !== 2 || r.u8("ballot version") !== 1) {
      throw new VerifyError("unknown compact ballot version", where);
    }
    const ballot = { device_id: r.text("device", 256), session: r.text("session", 256),
      sequence: r.u64("sequence"), style_id: r.text("style", 256),
      previous_code: bytesToHex(r.take(32, "previous code")),
      tracking_code: bytesToHex(r.take(32, "tracking code")), contests: [] };
    const proof = () => {
      const branches = r.u32("branches");
      if (branches > 1001) throw new VerifyError("too many proof branches", where);
      r.take(branches * 2 * (group.pBytes + group.qBytes), "proof");
    };
    const contests = r.u32("contests");
    if (contests > 1000) throw new VerifyError("too many contests", where);
    for (let i = 0; i < contests; i++) {
      const contest = { index: r.u32("contest index"), selections: [] };
      const count = r.u32("selections");
      if (count > 1000) throw new VerifyError("too many selections", where);
      for (let j = 0; j < count; j++) {
        contest.selections.push({ alpha: bytesToHex(r.take(group.pBytes, "alpha")),
          beta: bytesToHex(r.take(group.pBytes, "beta")) });
        proof();
      }
      proof();
      ballot.contests.push(contest);
    }
    r.end();
    return { version: 2, ballot };
  }
  return parseJson(bytes, where);
}

function closeMessage(group, close) {
  const parts = [field(hexToBytes(close.extended_base_hash)), u64(close.attempt),
    bigToBytes(element(group, close.joint_key, "joint key"), group.pBytes)];
  for (const vk of [...close.verification_keys].sort((a, b) => a.index - b.index)) {
    parts.push(u64(vk.index), bigToBytes(element(group, vk.key, "verification key"), group.pBytes));
  }
  return concat(...parts);
}

// --- fetching ---------------------------------------------------------------------------------
async function getJson(fetcher, url) {
  let response;
  try { response = await fetcher(url, { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" }); }
  catch (e) { throw new VerifyError("cannot reach " + url); }
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 404) return null;
  if (!response.ok || !body) {
    throw new VerifyError("HTTP " + response.status + " from " + url + (body && body.error ? ": " + body.error : ""));
  }
  return body;
}
async function envelopeAt(fetcher, url, index) {
  const page = await getJson(fetcher, url + "/v1/entries?start=" + index + "&limit=1");
  if (!page || !page.entries.length || BigInt(page.entries[0].index) !== BigInt(index)) {
    throw new VerifyError("no entry " + index + " at " + url);
  }
  return hexToBytes(page.entries[0].envelope);
}

// --- the whole check ----------------------------------------------------------------------------
// config: {election_id, operator, witnesses: [url], setup_leaf_hash, group: {name,p,q,g}}
// input: {receipt: Uint8Array} (the QR's bytes) or {trackingCode: text}
// options: {fetch, onStep(step), onProgress(done, total)}
export async function checkReceipt(config, input, options) {
  const fetcher = (options && options.fetch) || globalThis.fetch.bind(globalThis);
  const steps = [];
  const step = (name, ok, detail) => {
    const entry = { name, ok, detail };
    steps.push(entry);
    if (options && options.onStep) options.onStep(entry);
  };
  const result = { status: "failed", steps, choices: null, index: null, head: null, trackingCode: null };
  const group = makeGroup(config.group);
  try {
    // 1. The setup, pinned.
    const sources = [...config.witnesses, config.operator];
    let setupEnvelope = null, setupFrom = null;
    for (const url of sources) {
      try { setupEnvelope = await envelopeAt(fetcher, url, 0); setupFrom = url; break; }
      catch (e) { /* the next source */ }
    }
    if (!setupEnvelope) throw new VerifyError("no witness or operator serves the election setup");
    const setupLeaf = await leafHash(setupEnvelope);
    if (bytesToHex(setupLeaf) !== config.setup_leaf_hash) {
      throw new VerifyError("the setup served by " + setupFrom + " is not this election's (its hash differs from the published one)");
    }
    const setupEntry = decodeEntry(decodeEnvelope(setupEnvelope, "entry 0").entryBytes, "entry 0");
    if (setupEntry.type !== "setup") throw new VerifyError("entry 0 is not the setup");
    const setup = readSetup(setupEntry.payload, config);
    step("setup", true, "election " + setup.electionId + ": setup hash matches the published one");

    // 2. The input.
    let code, promise = null, expected = null;
    if (input.receipt) {
      const receipt = decodeReceipt(input.receipt);
      if (receipt.electionId !== setup.electionId) throw new VerifyError("this receipt is for election " + receipt.electionId);
      let signer = null;
      for (const [device, key] of Object.entries(setup.deviceKeys)) {
        if (await verifySignature(key, "receipt", setup.electionId, receipt.signed, receipt.signature)) { signer = device; break; }
      }
      if (!signer) throw new VerifyError("the receipt is not signed by a registered kiosk");
      if (!(await verifySignature(setup.operatorKey, "inclusion-promise", setup.electionId,
        receipt.promise.message, receipt.promise.signature))) {
        throw new VerifyError("the receipt's inclusion promise is not signed by the ledger operator");
      }
      code = receipt.trackingCode; promise = receipt.promise; expected = receipt.status;
      step("receipt", true, "signed by kiosk " + signer + "; the ledger promised index " + promise.index);
    } else {
      code = parseTrackingCode(input.trackingCode);
      step("receipt", true, "tracking code read (check symbol correct)");
    }
    result.trackingCode = formatTrackingCode(code);

    // 3. A head with enough cosignatures, from the witnesses themselves.
    const latest = [];
    for (const url of config.witnesses) {
      try { const h = await getJson(fetcher, url + "/v1/head"); if (h) latest.push({ url, size: BigInt(h.size) }); }
      catch (e) { /* unreachable witness: counted out */ }
    }
    let accepted = null;
    for (const size of [...new Set(latest.map((h) => h.size))].sort((a, b) => (a > b ? -1 : 1))) {
      const notes = [];
      for (const url of config.witnesses) {
        try { const h = await getJson(fetcher, url + "/v1/heads/" + size); if (h) notes.push({ url, parsed: parseNote(h.note) }); }
        catch (e) { /* missing at this witness */ }
      }
      for (const base of notes) {
        const head = base.parsed.head;
        if (head.origin !== setup.origin || head.electionId !== setup.electionId) continue;
        if (!(await verifySignature(setup.operatorKey, "tree-head", setup.electionId, encoder.encode(head.body), base.parsed.operator))) continue;
        const merged = { head, operator: base.parsed.operator, cosignatures: [] };
        for (const other of notes) {
          if (other.parsed.head.body === head.body) merged.cosignatures.push(...other.parsed.cosignatures);
        }
        const cosigners = await validCosigners(merged, setup);
        if (cosigners.length >= setup.witnessThreshold) { accepted = { url: base.url, head, cosigners }; break; }
      }
      if (accepted) break;
    }
    if (!accepted) {
      result.status = "unverified-head";
      throw new VerifyError("no tree head has the " + setup.witnessThreshold + " witness cosignatures the setup requires: nothing can be confirmed yet");
    }
    result.head = { size: accepted.head.size, cosigners: accepted.cosigners, from: accepted.url };
    step("head", true, "head of size " + accepted.head.size + " signed by the operator and cosigned by " + accepted.cosigners.join(", "));

    // 4. Where the entry is.
    let index;
    if (promise) {
      index = promise.index;
    } else {
      const found = await getJson(fetcher, config.operator + "/v1/promises/" + bytesToHex(code));
      if (!found) { result.status = "missing"; step("entry", false, "the ledger has no ballot with this tracking code"); return result; }
      index = BigInt(found.index);
    }
    result.index = index;
    if (index >= accepted.head.size) {
      result.status = "pending";
      step("entry", false, "recorded at index " + index + ", but no cosigned head covers it yet: check again later");
      return result;
    }
    const envelope = await envelopeAt(fetcher, accepted.url, index);
    const leaf = await leafHash(envelope);
    const proofBody = await getJson(fetcher, accepted.url + "/v1/proofs/inclusion?index=" + index + "&size=" + accepted.head.size);
    if (!proofBody) throw new VerifyError("the witness has no inclusion proof");
    await verifyInclusion(leaf, index, accepted.head.size, proofBody.proof.map(hexToBytes), accepted.head.root);
    if (promise && !equal(leaf, promise.leafHash)) {
      result.status = "broken-promise";
      step("entry", false, "the ledger promised another entry at index " + index + ": keep this receipt, it proves the promise was broken");
      return result;
    }
    const parsedEnvelope = decodeEnvelope(envelope, "entry " + index);
    const entry = decodeEntry(parsedEnvelope.entryBytes, "entry " + index);
    if (entry.type !== "ballot" && entry.type !== "challenge") {
      result.status = "missing";
      step("entry", false, "the entry at index " + index + " is not a ballot");
      return result;
    }
    const deviceKey = setup.deviceKeys[entry.writer];
    if (!deviceKey || entry.electionId !== setup.electionId ||
        !(await verifySignature(deviceKey, "ledger-entry", setup.electionId, entry.signed, entry.signature))) {
      throw new VerifyError("the entry is not signed by a registered kiosk of this election");
    }
    const payload = decodeBallotPayload(group, entry.payload, "entry " + index);
    const ballot = payload.ballot;
    if (ballot.tracking_code !== bytesToHex(code)) {
      result.status = "missing";
      step("entry", false, "the entry at index " + index + " holds another tracking code");
      return result;
    }
    const status = entry.type === "ballot" ? "cast" : "challenged";
    step("entry", true, "index " + index + " holds this tracking code as " + status.toUpperCase() +
      ", proven against the cosigned head (RFC 9162 inclusion proof), signed by kiosk " + entry.writer);

    // 5. K and H_E from the ceremony's close, authenticated by the chain and a proof.
    const chain = [];
    let close = null;
    for (let start = 0n; !close && start < accepted.head.size; start += 100n) {
      const page = await getJson(fetcher, accepted.url + "/v1/entries?start=" + start + "&limit=100");
      if (!page || !page.entries.length) break;
      for (const item of page.entries) {
        const bytes = hexToBytes(item.envelope);
        const env = decodeEnvelope(bytes, "entry " + item.index);
        const previous = chain.length ? chain[chain.length - 1].leaf : new Uint8Array(32);
        if (env.index !== BigInt(chain.length) || !equal(env.previous, previous)) {
          throw new VerifyError("the ledger's hash chain is broken", "entry " + item.index);
        }
        const link = { leaf: await leafHash(bytes), entry: decodeEntry(env.entryBytes, "entry " + item.index) };
        chain.push(link);
        if (link.entry.type === "ceremony-close") { close = link; break; }
      }
    }
    if (!close || !equal(chain[0].leaf, setupLeaf)) throw new VerifyError("the key ceremony's close was not found");
    const closeIndex = chain.length - 1;
    const closeProof = await getJson(fetcher, accepted.url + "/v1/proofs/inclusion?index=" + closeIndex + "&size=" + accepted.head.size);
    await verifyInclusion(close.leaf, closeIndex, accepted.head.size, closeProof.proof.map(hexToBytes), accepted.head.root);
    const closing = parseJson(close.entry.payload, "ceremony close");
    const message = closeMessage(group, closing);
    const signers = [];
    for (const s of closing.signatures) {
      const key = setup.trusteeKeys[s.index];
      if (!key || !(await verifySignature(key, "ceremony-close", setup.electionId, message, hexToBytes(s.signature)))) {
        throw new VerifyError("trustee " + s.index + "'s closing signature does not verify");
      }
      signers.push(s.index);
    }
    if (new Set(signers).size < setup.threshold) throw new VerifyError("too few trustees signed the ceremony's close");
    const extended = hexToBytes(closing.extended_base_hash);
    const jointKey = element(group, closing.joint_key, "joint key");
    step("ceremony", true, "joint key and H_E signed by trustees " + signers.join(", ") + " (entry " + closeIndex + ", in the cosigned tree)");

    const recomputed = await ballotTrackingCode(group, extended, ballot);
    if (!equal(recomputed, code)) throw new VerifyError("the tracking code is not the hash of this ballot's ciphertexts");
    step("code", true, "the tracking code is the hash of the ballot's ciphertexts");
    if (expected && expected !== status) {
      result.status = "mismatch";
      step("status", false, "the receipt says " + expected.toUpperCase() + ", the ledger has " + status.toUpperCase());
      return result;
    }
    result.status = status;
    if (status === "challenged") {
      result.choices = await verifyOpening(group, jointKey, extended, setup.manifest, ballot,
        payload.opening, options && options.onProgress);
      step("opening", true, "re-encrypting the published opening gives exactly the ballot's ciphertexts");
    }
    return result;
  } catch (error) {
    if (!(error instanceof VerifyError)) error = new VerifyError(String(error && error.message || error));
    step("failure", false, error.message);
    if (result.status !== "unverified-head") result.status = "failed";
    return result;
  }
}
