//! A blocking HTTP client for tests: any status is an answer to look at, not an error.
//! The handler's and the CLI's integration tests share this one file.

pub struct Got {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn image(&self) -> image::DynamicImage {
        image::load_from_memory(&self.body).unwrap_or_else(|e| panic!("not an image ({e}): {}", self.text()))
    }
}

pub fn http(method: &str, url: &str, headers: &[(&str, &str)]) -> Got {
    send(method, url, headers, None)
}

/// A request with `body`, when there is one.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Got {
    let mut req = ureq::request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let sent = match body {
        Some(body) => req.send_bytes(body),
        None => req.call(),
    };
    let res = match sent {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = res.status();
    let headers = res
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = res.header(&n).unwrap_or_default().to_string();
            (n, v)
        })
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut res.into_reader(), &mut body).unwrap();
    Got { status, headers, body }
}

pub fn get(url: &str) -> Got {
    http("GET", url, &[])
}
