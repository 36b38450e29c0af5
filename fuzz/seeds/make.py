#!/usr/bin/env python3
"""Writes the decoders' seed corpus: tiny images (under 40 px a side, so libFuzzer's
mutations stay fast) of every format and the variants each decoder branches on.

    python3 -m pip install pillow && python3 fuzz/seeds/make.py
"""

import io
import pathlib

from PIL import Image, ImageCms

here = pathlib.Path(__file__).parent
samples = here.parent.parent / "samples"
photo = Image.open(samples / "mountain.jpg").convert("RGB")
alpha = Image.open(samples / "dragonfly-alpha.png").convert("RGBA")
anim = Image.open(samples / "sunset-anim.gif")


def small(img, w, h):
    return img.resize((w, h), Image.LANCZOS)


def frames(n, w, h):
    out = []
    for i in range(n):
        anim.seek(i * 3 % anim.n_frames)
        out.append(small(anim.convert("RGBA"), w, h))
    return out


def save(fmt, name, img, **opts):
    d = here / fmt
    d.mkdir(exist_ok=True)
    buf = io.BytesIO()
    img.save(buf, **opts)
    (d / name).write_bytes(buf.getvalue())


exif = Image.Exif()
exif[0x0112] = 6  # orientation: turn 90° clockwise
srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

save("jpeg", "baseline-420.jpg", small(photo, 40, 27), format="JPEG", quality=80, subsampling=2)
save("jpeg", "progressive-444.jpg", small(photo, 33, 21), format="JPEG", quality=90, subsampling=0, progressive=True)
save("jpeg", "progressive-422-restart.jpg", small(photo, 35, 18), format="JPEG", subsampling=1,
     progressive=True, restart_marker_blocks=1)
save("jpeg", "grey.jpg", small(photo, 24, 24).convert("L"), format="JPEG", quality=75)
save("jpeg", "cmyk.jpg", small(photo, 20, 20).convert("CMYK"), format="JPEG")
save("jpeg", "exif-icc.jpg", small(photo, 30, 20), format="JPEG", exif=exif, icc_profile=srgb)

save("png", "rgba.png", small(alpha, 32, 20), format="PNG")
save("png", "palette.png", small(photo, 25, 17).quantize(16), format="PNG")
save("png", "grey16.png", small(photo, 20, 20).convert("I;16"), format="PNG")
save("png", "icc.png", small(photo, 23, 19), format="PNG", icc_profile=srgb)
save("png", "apng.png", frames(3, 24, 16)[0], format="PNG", save_all=True, append_images=frames(3, 24, 16)[1:])

save("gif", "animated.gif", frames(3, 24, 16)[0], format="GIF", save_all=True, append_images=frames(3, 24, 16)[1:],
     duration=100, loop=0, disposal=2)
save("gif", "still.gif", small(photo, 17, 13), format="GIF")

save("webp", "lossy.webp", small(photo, 30, 20), format="WEBP", quality=70)
save("webp", "lossless-alpha.webp", small(alpha, 30, 20), format="WEBP", lossless=True)
save("webp", "lossy-alpha.webp", small(alpha, 30, 20), format="WEBP", quality=60)
save("webp", "animated.webp", frames(3, 24, 16)[0], format="WEBP", save_all=True,
     append_images=frames(3, 24, 16)[1:], duration=100)
save("webp", "exif-icc.webp", small(photo, 20, 14), format="WEBP", exif=exif, icc_profile=srgb)

save("avif", "yuv420.avif", small(photo, 24, 16), format="AVIF", quality=50)
save("avif", "alpha-444.avif", small(alpha, 20, 14), format="AVIF", quality=60, subsampling="4:4:4")

save("bmp", "rgb24.bmp", small(photo, 21, 15), format="BMP")
save("bmp", "rgba32.bmp", small(alpha, 19, 15), format="BMP")
save("bmp", "palette8.bmp", small(photo, 21, 15).quantize(16), format="BMP")
save("bmp", "mono.bmp", small(photo, 16, 9).convert("1"), format="BMP")

save("tiff", "raw.tif", small(photo, 22, 15), format="TIFF")
save("tiff", "lzw.tif", small(photo, 22, 15), format="TIFF", compression="tiff_lzw")
save("tiff", "deflate-alpha.tif", small(alpha, 22, 15), format="TIFF", compression="tiff_adobe_deflate")
save("tiff", "grey16.tif", small(photo, 22, 15).convert("I;16"), format="TIFF")
save("tiff", "packbits.tif", small(photo, 14, 9), format="TIFF", compression="packbits")
