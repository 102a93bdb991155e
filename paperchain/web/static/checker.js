// The receipt checker page: reads a tracking code or the receipt's QR code (camera or
// file, decoded here with jsQR: no image leaves the device) and runs verify.js.
import { checkReceipt } from "./verify.js";

const election = document.querySelector('meta[name="paperchain-election"]').content;
const result = document.getElementById("result");
const stepsList = document.getElementById("steps");
const progress = document.getElementById("progress");
const progressText = document.getElementById("progress-text");
let config = null;
let stream = null;

const NAMES = {
  setup: "Election setup", receipt: "Receipt", head: "Witnessed ledger head",
  entry: "Ballot on the ledger", ceremony: "Election key", code: "Tracking code",
  opening: "Challenge opened", status: "Receipt status", failure: "Check failed",
};
const VERDICTS = {
  cast: ["ok", "Your ballot is on the ledger as CAST."],
  challenged: ["ok", "This ballot was CHALLENGED: it is not counted. Below are the choices it held."],
  pending: ["wait", "Your ballot is recorded, but the witnesses have not cosigned a head that covers it yet. Check again later."],
  missing: ["bad", "This tracking code is NOT on the ledger."],
  "broken-promise": ["bad", "The ledger BROKE ITS PROMISE: another entry is where your receipt says your ballot is. Keep your receipt and report it."],
  mismatch: ["bad", "The ledger records this ballot differently from your receipt."],
  "unverified-head": ["bad", "NOT VERIFIED: no ledger head has enough witness cosignatures, so nothing can be confirmed."],
  failed: ["bad", "NOT VERIFIED: a check failed (see the steps below)."],
};

function item(text, ok) {
  const li = document.createElement("li");
  li.className = ok ? "pass" : "fail";
  const mark = document.createElement("span");
  mark.className = "mark";
  mark.textContent = ok ? "✔ Passed: " : "✘ Failed: ";
  li.append(mark, text);
  return li;
}

async function run(input) {
  stepsList.replaceChildren();
  result.replaceChildren(Object.assign(document.createElement("p"), { textContent: "Checking…" }));
  progress.hidden = true;
  progressText.textContent = "";
  if (!config) {
    const response = await fetch("/v1/elections/" + encodeURIComponent(election) + "/config");
    config = await response.json();
  }
  const outcome = await checkReceipt(config, input, {
    onStep: (step) => stepsList.append(item((NAMES[step.name] || step.name) + " — " + step.detail, step.ok)),
    onProgress: async (done, total) => {
      progress.hidden = false;
      progress.max = total;
      progress.value = done;
      progressText.textContent = "Re-encrypting the opening: " + done + " of " + total + " selections";
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
  });
  const [kind, words] = VERDICTS[outcome.status] || VERDICTS.failed;
  const parts = [];
  const verdict = document.createElement("p");
  verdict.className = "verdict " + kind;
  verdict.id = "verdict";
  verdict.dataset.status = outcome.status;
  verdict.textContent = words;
  parts.push(verdict);
  if (outcome.trackingCode) {
    const code = document.createElement("p");
    code.className = "code";
    code.textContent = "Tracking code: " + outcome.trackingCode;
    parts.push(code);
  }
  if (outcome.choices) {
    const list = document.createElement("dl");
    list.id = "choices";
    for (const contest of outcome.choices) {
      const dt = document.createElement("dt");
      dt.textContent = contest.title[document.documentElement.lang] || contest.title.en;
      const dd = document.createElement("dd");
      dd.textContent = contest.choices.length
        ? contest.choices.map((label) => label[document.documentElement.lang] || label.en).join(", ")
        : "No selection";
      list.append(dt, dd);
    }
    parts.push(list);
  }
  result.replaceChildren(...parts);
}

document.getElementById("code-form").addEventListener("submit", (event) => {
  event.preventDefault();
  run({ trackingCode: document.getElementById("code").value });
});

function decodeFrom(source, width, height) {
  const canvas = document.getElementById("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(source, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height);
  return window.jsQR(pixels.data, width, height, { inversionAttempts: "attemptBoth" });
}

document.getElementById("qr-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 2000 / Math.max(bitmap.width, bitmap.height));
  const found = decodeFrom(bitmap, Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
  if (!found) {
    result.replaceChildren(Object.assign(document.createElement("p"),
      { className: "verdict bad", textContent: "No QR code was found in this picture." }));
    return;
  }
  run({ receipt: Uint8Array.from(found.binaryData) });
});

const video = document.getElementById("video");
const stop = document.getElementById("camera-stop");
function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  video.hidden = true;
  stop.hidden = true;
}
stop.addEventListener("click", stopCamera);
document.getElementById("camera").addEventListener("click", async () => {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (e) {
    result.replaceChildren(Object.assign(document.createElement("p"),
      { className: "verdict bad", textContent: "The camera is not available: " + e.message }));
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  stop.hidden = false;
  await video.play();
  const scanFrame = () => {
    if (!stream) return;
    if (video.videoWidth) {
      const found = decodeFrom(video, video.videoWidth, video.videoHeight);
      if (found) { stopCamera(); run({ receipt: Uint8Array.from(found.binaryData) }); return; }
    }
    requestAnimationFrame(scanFrame);
  };
  requestAnimationFrame(scanFrame);
});
