/**
 * The tidemark Cloudflare Worker: read-only inspection API, metrics, the
 * browser inspector, and the MirrorObject Durable Object (to come).
 */
import { Hono } from "hono";

export interface Env {
  SOURCE: R2Bucket;
  MIRROR: R2Bucket;
}

const app = new Hono<{ Bindings: Env }>();
app.notFound((c) => c.json({ error: "NotFound", message: "no such route" }, 404));

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
