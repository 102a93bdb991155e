// Runs paperchain/web/static/verify.js under Node for the tests: reads
// {config, input, tamper} as JSON on stdin, prints the result as JSON on stdout.
// tamper "strip-cosignatures" drops every witness cosignature line but the first
// from the heads the witnesses serve (a head without enough cosignatures).
import { pathToFileURL } from "node:url";

const modulePath = process.argv[2];
const { checkReceipt, hexToBytes } = await import(pathToFileURL(modulePath).href);
let text = "";
for await (const chunk of process.stdin) text += chunk;
const request = JSON.parse(text);

async function tamperedFetch(url, options) {
  const response = await fetch(url, options);
  if (request.tamper !== "strip-cosignatures" || !/\/v1\/heads?(\/\d+)?$/.test(new URL(url).pathname)) {
    return response;
  }
  const body = await response.json();
  if (body && typeof body.note === "string") {
    const [head, signatures] = body.note.split("\n\n");
    const lines = signatures.split("\n").filter((l) => l);
    body.note = head + "\n\n" + lines.slice(0, 2).join("\n") + "\n";
  }
  return new Response(JSON.stringify(body), { status: response.status,
    headers: { "Content-Type": "application/json" } });
}

const input = request.input.receipt_hex
  ? { receipt: hexToBytes(request.input.receipt_hex) }
  : { trackingCode: request.input.tracking_code };
let progressCalls = 0;
const result = await checkReceipt(request.config, input, {
  fetch: tamperedFetch, onProgress: () => { progressCalls += 1; },
});
result.progressCalls = progressCalls;
process.stdout.write(JSON.stringify(result, (key, value) =>
  typeof value === "bigint" ? value.toString() : value));
