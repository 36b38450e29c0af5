-- wrk: every request a distinct URL from the CDN mix (bench/http.sh sets PHOTOS).
local photos, i = {}, 0
for p in string.gmatch(os.getenv("PHOTOS"), "[^ ]+") do photos[#photos + 1] = p end
local widths = { 100, 200, 400, 720, 1080 }
request = function()
  i = i + 1
  local w = widths[i % #widths + 1] + math.floor(i / (#widths * #photos)) % 97
  return wrk.format("GET", "/" .. photos[i % #photos + 1] .. "?x-oss-process=image/resize,w_" .. w .. "/quality,Q_80")
end
