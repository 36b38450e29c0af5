# Sourced by the benchmarks: real CC-licensed photographs from Debian's lomiri-wallpapers
# packages in $data/x/usr/share/backgrounds (1.5-24 MP; progressive and baseline; 4:2:0,
# 4:2:2 and 4:4:4), two of them copied as photo-6mp.jpg and photo-20mp.jpg; and sharp.
data="$root/target/bench-data"
photos="$data/x/usr/share/backgrounds"
mkdir -p "$data"
if [ ! -d "$photos" ] || [ ! -f "$data/photo-6mp.jpg" ] || [ ! -f "$data/photo-20mp.jpg" ]; then
  (cd "$data" && apt-get download lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 >/dev/null)
  for deb in "$data"/lomiri-wallpapers-*.deb; do dpkg-deb -x "$deb" "$data/x"; done
  cp "$photos/free_by_Peter_Nerlich.jpg" "$data/photo-6mp.jpg"     # 2880x2160
  cp "$photos/Kleiber_by_Lukas_Baubkus.jpg" "$data/photo-20mp.jpg" # 6028x3391
fi
[ -d "$root/bench/node_modules/sharp" ] || (cd "$root/bench" && npm install --silent --no-audit --no-fund >/dev/null)
# Pin a process to one core so a comparison is per core.
pin=(taskset -c 0)
command -v taskset >/dev/null || pin=()
