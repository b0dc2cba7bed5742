//! GET_NAMESRV_CONFIG (319) and UPDATE_NAMESRV_CONFIG (318): the effective keys as properties
//! text. Updates change the running nameserver (only `orderMessageEnable` has a live effect) and
//! refuse the black-listed keys with NO_PERMISSION, as Java does.

use tracing::info;

use crate::protocol::{request, response, Command};

use super::{success, NamesrvShard, RequestError};

pub(super) fn handle(shard: &NamesrvShard, request: &Command) -> Result<Command, RequestError> {
    if request.code == request::GET_NAMESRV_CONFIG {
        let options = shard.options.borrow();
        let text: String = options.effective.iter().map(|(key, value)| format!("{key}={value}\n")).collect();
        return Ok(success(request).with_body(text.into_bytes()));
    }
    let text =
        std::str::from_utf8(&request.body).map_err(|_| RequestError::Body("the config body is not UTF-8".into()))?;
    let updates: Vec<(String, String)> = crate::config::lexer::lex(text)
        .map_err(|error| RequestError::Body(format!("the config body does not parse: {error}")))?
        .entries
        .into_iter()
        .map(|entry| (entry.key, entry.value))
        .collect();
    let mut options = shard.options.borrow_mut();
    if updates.iter().any(|(key, _)| options.config_black_list.iter().any(|black| black == key)) {
        return Ok(
            Command::response_to(request, response::NO_PERMISSION).with_remark("Can not update config in black list.")
        );
    }
    for (key, value) in updates {
        info!("updateNamesrvConfig: {key}={value}");
        if key == "orderMessageEnable" {
            options.order_message_enable = value.eq_ignore_ascii_case("true");
        }
        match options.effective.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => options.effective.push((key, value)),
        }
    }
    Ok(success(request))
}
