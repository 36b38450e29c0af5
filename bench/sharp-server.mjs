// The seed system's engine as a minimal HTTP server, for bench/http.sh:
//   node sharp-server.mjs DIR PORT
// GET /<file>?x-oss-process=image/resize,w_N[/format,webp|avif][/quality,Q_N] answers the
// photo resized to N wide (Lanczos3, as sharp defaults) in JPEG q80 or the format asked.
// sharp's defaults otherwise: libvips threads per core, no cache.
import sharp from 'sharp';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const [dir, port] = process.argv.slice(2);
sharp.cache(false);
createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://x');
    const ops = Object.fromEntries(
      (url.searchParams.get('x-oss-process') || '').split('/').slice(1).map((s) => s.split(',')));
    const width = Number((ops.resize || 'w_0').replace('w_', ''));
    const format = ops.format || 'jpeg';
    const quality = Number((ops.quality || 'Q_80').replace('Q_', ''));
    const input = await readFile(join(dir, decodeURIComponent(url.pathname.slice(1))));
    const out = await sharp(input).resize(width, null, { kernel: 'lanczos3', fit: 'inside' })[format]({ quality }).toBuffer();
    res.writeHead(200, { 'content-type': `image/${format}` }).end(out);
  } catch (e) {
    res.writeHead(400).end(String(e));
  }
}).listen(Number(port), '127.0.0.1');
