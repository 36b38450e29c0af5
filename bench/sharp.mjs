// Times sharp on the same task as the imgh bench example:
//   node sharp.mjs FILE WIDTH HEIGHT QUALITY [N] [FORMAT] [CROP]
// FORMAT is jpeg (default), webp or avif; CROP is "left,top,width,height", applied before
// the resize. One libvips thread, no cache, so the figure is per core.
import sharp from 'sharp';
import { readFileSync } from 'node:fs';

const [file, w, h, q, n = '20', format = 'jpeg', crop] = process.argv.slice(2);
sharp.concurrency(1);
sharp.cache(false);
const input = readFileSync(file);
const [left, top, width, height] = (crop || '').split(',').map(Number);
const op = () => {
  let s = sharp(input);
  if (crop) s = s.extract({ left, top, width, height });
  s = s.resize(Number(w), Number(h) || null, { kernel: 'lanczos3', fit: 'inside' });
  return s[format]({ quality: Number(q) }).toBuffer();
};
const times = [];
let outBytes = 0;
for (let i = 0; i < Number(n); i++) {
  const t = process.hrtime.bigint();
  const out = await op();
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
  outBytes = out.length;
}
const mean = times.reduce((a, b) => a + b, 0) / times.length;
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const rss = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify({ engine: 'sharp', sharp: sharp.versions.sharp, vips: sharp.versions.vips, ms_median: +median.toFixed(2), ms_mean: +mean.toFixed(2), out_bytes: outBytes, peak_rss_mb: +rss.toFixed(1) }));
