//! WebP through libwebp: scaled decoding for stills (shrink-on-load), the animation
//! decoder/encoder for animated files.

use super::{bad, Header};
use crate::error::Result;
use crate::picture::Picture;
use image::{DynamicImage, RgbImage, RgbaImage};
use libwebp_sys as sys;

fn features(data: &[u8]) -> Result<sys::WebPBitstreamFeatures> {
    // SAFETY: libwebp reads `data.len()` bytes from `data` and fills the plain struct.
    unsafe {
        let mut f: sys::WebPBitstreamFeatures = std::mem::zeroed();
        if sys::WebPGetFeatures(data.as_ptr(), data.len(), &mut f) != sys::VP8StatusCode::VP8_STATUS_OK {
            return Err(bad("WebP", "cannot read the header"));
        }
        Ok(f)
    }
}

pub fn dimensions(data: &[u8]) -> Result<(u32, u32, u32)> {
    let f = features(data)?;
    let frames = if f.has_animation != 0 { frame_count(data)? } else { 1 };
    Ok((f.width as u32, f.height as u32, frames))
}

fn frame_count(data: &[u8]) -> Result<u32> {
    let webp = sys::WebPData { bytes: data.as_ptr(), size: data.len() };
    // SAFETY: the demuxer borrows `data` only until WebPDemuxDelete below.
    unsafe {
        let demux = sys::WebPDemuxInternal(&webp, 0, std::ptr::null_mut(), sys::WebPGetDemuxABIVersion());
        if demux.is_null() {
            return Err(bad("WebP", "cannot read the animation"));
        }
        let n = sys::WebPDemuxGetI(demux, sys::WebPFormatFeature::WEBP_FF_FRAME_COUNT);
        sys::WebPDemuxDelete(demux);
        Ok(n.max(1))
    }
}

/// Integer shrink that still covers `min`, and the decoded size; the resize step does the
/// rest with Lanczos3.
pub fn scaled_size(header: &Header, min: Option<(u32, u32)>) -> (u32, u32, u32) {
    let (w, h) = (header.width, header.height);
    let shrink = min.map_or(1, |(mw, mh)| (w / mw.max(1)).min(h / mh.max(1)).max(1));
    (shrink, w.div_ceil(shrink), h.div_ceil(shrink))
}

pub fn decode(data: &[u8], header: &Header, min: Option<(u32, u32)>, all_frames: bool) -> Result<Picture> {
    if header.frames > 1 {
        return decode_animated(data, all_frames);
    }
    let f = features(data)?;
    let alpha = f.has_alpha != 0;
    let (shrink, ow, oh) = scaled_size(header, min);
    let channels = if alpha { 4 } else { 3 };
    let stride = ow as usize * channels;
    let mut buf = vec![0u8; stride * oh as usize];
    // SAFETY: libwebp writes at most `buf.len()` bytes at `stride` into our buffer.
    unsafe {
        let mut config: sys::WebPDecoderConfig = std::mem::zeroed();
        if !sys::WebPInitDecoderConfig(&mut config) {
            return Err(bad("WebP", "decoder init failed"));
        }
        if shrink > 1 {
            config.options.use_scaling = 1;
            config.options.scaled_width = ow as i32;
            config.options.scaled_height = oh as i32;
        }
        config.output.colorspace = if alpha { sys::WEBP_CSP_MODE::MODE_RGBA } else { sys::WEBP_CSP_MODE::MODE_RGB };
        config.output.is_external_memory = 1;
        config.output.u.RGBA = sys::WebPRGBABuffer { rgba: buf.as_mut_ptr(), stride: stride as i32, size: buf.len() };
        let status = sys::WebPDecode(data.as_ptr(), data.len(), &mut config);
        sys::WebPFreeDecBuffer(&mut config.output);
        if status != sys::VP8StatusCode::VP8_STATUS_OK {
            return Err(bad("WebP", format!("decode failed ({status:?})")));
        }
    }
    let img = if alpha {
        RgbaImage::from_raw(ow, oh, buf).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(ow, oh, buf).map(DynamicImage::ImageRgb8)
    };
    let mut pic = Picture::still(img.ok_or_else(|| bad("WebP", "short buffer"))?);
    if shrink > 1 {
        pic.logical_size = Some((header.width, header.height));
    }
    Ok(pic)
}

/// Every frame (or only the first), each composed on the canvas by libwebp's animation
/// decoder. Not through the `webp` crate's loop: it asks again for a frame that failed to
/// decode, forever (a 612-byte file held a worker for good).
fn decode_animated(data: &[u8], all_frames: bool) -> Result<Picture> {
    let webp = sys::WebPData { bytes: data.as_ptr(), size: data.len() };
    // SAFETY: the decoder borrows `data` until WebPAnimDecoderDelete, which every path
    // reaches; the options are a plain struct libwebp initialises.
    unsafe {
        let mut options: sys::WebPAnimDecoderOptions = std::mem::zeroed();
        if sys::WebPAnimDecoderOptionsInitInternal(&mut options, sys::WebPGetDemuxABIVersion()) == 0 {
            return Err(bad("WebP animation", "decoder init failed"));
        }
        options.color_mode = sys::WEBP_CSP_MODE::MODE_RGBA;
        let dec = sys::WebPAnimDecoderNewInternal(&webp, &options, sys::WebPGetDemuxABIVersion());
        if dec.is_null() {
            return Err(bad("WebP animation", "cannot read the animation"));
        }
        let frames = read_frames(dec, all_frames);
        sys::WebPAnimDecoderDelete(dec);
        frames
    }
}

/// The frames of an open animation decoder, as RGBA canvases with their delays.
///
/// # Safety
/// `dec` is a live decoder.
unsafe fn read_frames(dec: *mut sys::WebPAnimDecoder, all_frames: bool) -> Result<Picture> {
    let mut info: sys::WebPAnimInfo = std::mem::zeroed();
    if sys::WebPAnimDecoderGetInfo(dec, &mut info) == 0 {
        return Err(bad("WebP animation", "cannot read the animation"));
    }
    let (w, h) = (info.canvas_width, info.canvas_height);
    let len = w as usize * h as usize * 4;
    let (mut frames, mut delays_ms, mut prev_ts) = (Vec::new(), Vec::new(), 0);
    while sys::WebPAnimDecoderHasMoreFrames(dec) != 0 && (all_frames || frames.is_empty()) {
        let (mut buf, mut ts) = (std::ptr::null_mut(), 0);
        if sys::WebPAnimDecoderGetNext(dec, &mut buf, &mut ts) == 0 || buf.is_null() {
            return Err(bad("WebP animation", "cannot decode a frame"));
        }
        // SAFETY: libwebp's canvas is w × h RGBA pixels, valid until the next call.
        let rgba = std::slice::from_raw_parts(buf, len).to_vec();
        let rgba = RgbaImage::from_raw(w, h, rgba).ok_or_else(|| bad("WebP animation", "short frame"))?;
        frames.push(DynamicImage::ImageRgba8(rgba));
        // Timestamps are frame end times; a delay is the difference to the previous one.
        delays_ms.push((ts - prev_ts).max(0) as u32);
        prev_ts = ts;
    }
    if frames.is_empty() {
        return Err(bad("WebP animation", "no frames"));
    }
    Ok(Picture {
        frames,
        delays_ms,
        loop_count: info.loop_count.min(u16::MAX as u32) as u16,
        logical_size: None,
        prescaled_rounding: false,
    })
}

/// Lossy at `quality`; `Q_100` asks for lossless.
pub fn encode(pic: &Picture, quality: u8) -> Result<Vec<u8>> {
    if pic.is_animated() {
        return encode_animated(pic, quality);
    }
    let img = pic.first();
    let (w, h) = (img.width(), img.height());
    let mem = if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        encode_still(webp::Encoder::from_rgba(rgba.as_raw(), w, h), quality)
    } else {
        let rgb = img.to_rgb8();
        encode_still(webp::Encoder::from_rgb(rgb.as_raw(), w, h), quality)
    };
    Ok(mem)
}

fn encode_still(enc: webp::Encoder, quality: u8) -> Vec<u8> {
    let mem = if quality >= 100 { enc.encode_lossless() } else { enc.encode(quality as f32) };
    mem.to_vec()
}

fn encode_animated(pic: &Picture, quality: u8) -> Result<Vec<u8>> {
    let mut config = webp::WebPConfig::new().map_err(|_| bad("WebP encoder", "config init failed"))?;
    config.quality = quality as f32;
    config.lossless = (quality >= 100) as i32;
    let rgba: Vec<RgbaImage> = pic.frames.iter().map(|f| f.to_rgba8()).collect();
    let mut enc = webp::AnimEncoder::new(pic.width(), pic.height(), &config);
    enc.set_loop_count(pic.loop_count as i32);
    let mut t = 0i32;
    for (i, f) in rgba.iter().enumerate() {
        enc.add_frame(webp::AnimFrame::from_rgba(f.as_raw(), f.width(), f.height(), t));
        t += pic.delays_ms.get(i).copied().unwrap_or(100) as i32;
    }
    let mem = enc.try_encode().map_err(|e| bad("WebP encoder", format!("{e:?}")))?;
    Ok(mem.to_vec())
}
