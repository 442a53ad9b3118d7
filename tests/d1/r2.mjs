// Starts a local R2 bucket whose S3 API (SigV4-verified) is served by
// miniflare at /cdn-cgi/local/r2/s3, and prints one JSON line on stdout:
// {"endpoint": "...", "bucket": "...", "accessKeyId": "...", "secretAccessKey": "..."}.
// Runs until stdin closes or it gets SIGTERM/SIGINT. Used by tests/session_logs_r2.rs; runs on the Node 22 installed here.
import { Miniflare } from "miniflare";

const bucket = process.env.R2_BUCKET ?? "vk-logs";
const accessKeyId = process.env.R2_ACCESS_KEY_ID ?? "vk-test-access-key";
const secretAccessKey = process.env.R2_SECRET_ACCESS_KEY ?? "vk-test-secret-key-0123456789";

const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  cf: false,
  modules: true,
  script: "export default { fetch() { return new Response('r2 harness'); } };",
  r2Buckets: { LOGS: { id: bucket, s3Credentials: { accessKeyId, secretAccessKey } } },
});
const url = await mf.ready;
const origin = url.origin ?? String(url).replace(/\/$/, "");
process.stdout.write(
  JSON.stringify({ endpoint: `${origin}/cdn-cgi/local/r2/s3`, bucket, accessKeyId, secretAccessKey }) + "\n",
);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await mf.dispose();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
