// Runs verify.js's Benaloh check under Node on one ballot and its opening (JSON on stdin:
// group, joint_key, extended_base_hash, manifest, ballot, opening); prints the tracking
// code it computes and the choices the opening shows, or the error.
import { pathToFileURL } from "node:url";

const verify = await import(pathToFileURL(process.argv[2]).href);
let text = "";
for await (const chunk of process.stdin) text += chunk;
const request = JSON.parse(text);
const group = verify.makeGroup(request.group);
const extended = verify.hexToBytes(request.extended_base_hash);
const key = BigInt("0x" + request.joint_key);
const out = {};
out.tracking_code = verify.bytesToHex(await verify.ballotTrackingCode(group, extended, request.ballot));
try {
  out.choices = await verify.verifyOpening(group, key, extended, request.manifest,
    request.ballot, request.opening, null);
} catch (error) {
  out.error = error.message;
}
process.stdout.write(JSON.stringify(out));
