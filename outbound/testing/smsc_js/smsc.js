// A loopback SMSC for outbound's tests, built on the npm `smpp` server (not our code).
//
// Usage: node smsc.js SYSTEM_ID PASSWORD [CERT KEY [CLIENT_CA]]   (listens on 127.0.0.1, a free
// port; with CERT and KEY (PEM files) over TLS 1.2+, and with CLIENT_CA it requires a client
// certificate signed by it: the bind event then names its subject CN)
// Control: one JSON object per line on stdin; events: one JSON object per line on stdout.
//   {"cmd":"mo","from":"8613800138000","text":"STOP"}      inject a mobile-originated message
//   {"cmd":"receipt","dest":"86138...","stat":"UNDELIV"}     receipts for that number (default DELIVRD)
//   {"cmd":"fail","status":"throttled"|"invalid_dest","count":N}  next N submit_sm get that error
//   {"cmd":"drop_next","after":N}  the submit_sm after the next N (default 0) is not accepted:
//                          the socket is destroyed instead (unanswered submits are lost with it)
//   {"cmd":"delay","ms":N}  answer (and accept or refuse) each submit_sm N ms after it arrived
//   {"cmd":"unbind"}      send unbind to every bound session
//   {"cmd":"kill"}        destroy every session's socket now
// Events: listening, bind, submit (each accepted part; "outstanding" = submits of that session
// not yet answered when it arrived, itself included), refused, dropped, unanswered (a delayed
// submit whose session closed first: never accepted), message (reassembled), mo_resp,
// unbind_resp, closed.
"use strict";
const smpp = require("smpp");
const readline = require("readline");

const [systemId, password, certFile, keyFile, clientCa] = process.argv.slice(2);
const fs = require("fs");
const tlsOptions = certFile
  ? {
      cert: fs.readFileSync(certFile),
      key: fs.readFileSync(keyFile),
      minVersion: "TLSv1.2",
      ...(clientCa
        ? { ca: fs.readFileSync(clientCa), requestCert: true, rejectUnauthorized: true }
        : {}),
    }
  : {};
const sessions = new Set();
const receipts = new Map(); // destination -> stat
const pending = new Map(); // "dest/ref" -> {parts: [], total, ids}
let failures = []; // queued error statuses
let dropAfter = -1; // submits still to take before dropping the session (-1: none)
let delayMs = 0;
let nextId = 1;

const STATUS = { throttled: smpp.ESME_RTHROTTLED, invalid_dest: smpp.ESME_RINVDSTADR };
const STATE = { DELIVRD: 2, EXPIRED: 3, UNDELIV: 5, REJECTD: 8 };

function emit(event) {
  process.stdout.write(JSON.stringify({ ...event, t: Date.now() }) + "\n");
}

function text(pdu) {
  const sm = pdu.short_message;
  return typeof sm === "string" ? sm : sm && sm.message !== undefined ? String(sm.message) : "";
}

function concat(pdu) {
  const sm = pdu.short_message;
  if (!sm || !sm.udh) return null;
  const ie = sm.udh.find((u) => u[0] === 0x00);
  return ie ? { ref: ie[2], total: ie[3], seq: ie[4] } : null;
}

function reassemble(pdu, id) {
  const part = concat(pdu);
  if (!part) {
    emit({ ev: "message", dest: pdu.destination_addr, text: text(pdu), parts: 1, ids: [id] });
    return;
  }
  const key = `${pdu.destination_addr}/${part.ref}`;
  const entry = pending.get(key) || { parts: [], ids: [], total: part.total };
  entry.parts[part.seq - 1] = text(pdu);
  entry.ids.push(id);
  pending.set(key, entry);
  if (entry.parts.filter((p) => p !== undefined).length === entry.total) {
    pending.delete(key);
    emit({
      ev: "message",
      dest: pdu.destination_addr,
      text: entry.parts.join(""),
      parts: entry.total,
      ids: entry.ids,
    });
  }
}

// Receipts are stored and forwarded like a real SMSC does: to any bound session, and after a
// rebind when none is bound (or the session died before acknowledging).
const outbox = [];

function flushReceipts() {
  const session = sessions.values().next().value;
  while (session && outbox.length) {
    const receipt = outbox.shift();
    const requeue = () => outbox.push(receipt); // the session died before acknowledging
    session.once("close", requeue);
    session.deliver_sm(receipt.pdu, (resp) => {
      session.removeListener("close", requeue);
      emit({ ev: "receipt_resp", id: receipt.id, stat: receipt.stat, status: resp.command_status });
    });
  }
}

function sendReceipt(pdu, id) {
  const stat = receipts.get(pdu.destination_addr) || "DELIVRD";
  const body =
    `id:${id} sub:001 dlvrd:${stat === "DELIVRD" ? "001" : "000"} ` +
    `submit date:2611261500 done date:2611261500 stat:${stat} err:000 text:`;
  const receipt = {
    id,
    stat,
    pdu: {
      source_addr: pdu.destination_addr,
      destination_addr: pdu.source_addr,
      esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
      short_message: body,
      receipted_message_id: id,
      message_state: STATE[stat] || 5,
    },
  };
  setTimeout(() => {
    outbox.push(receipt);
    flushReceipts();
  }, 20);
}

function onSubmit(session, pdu) {
  if (dropAfter === 0) {
    dropAfter = -1;
    emit({ ev: "dropped", dest: pdu.destination_addr });
    session.destroy();
    return;
  }
  if (dropAfter > 0) dropAfter--;
  session.outstanding = (session.outstanding || 0) + 1;
  const outstanding = session.outstanding;
  const answer = () => {
    session.outstanding--;
    if (session.closed) {
      emit({ ev: "unanswered", dest: pdu.destination_addr });
      return;
    }
    accept(session, pdu, outstanding);
  };
  if (delayMs > 0) setTimeout(answer, delayMs);
  else answer();
}

function accept(session, pdu, outstanding) {
  const failure = failures.shift();
  if (failure !== undefined) {
    emit({ ev: "refused", dest: pdu.destination_addr, status: failure, outstanding });
    session.send(pdu.response({ command_status: failure }));
    return;
  }
  const id = `M${String(nextId++).padStart(6, "0")}`;
  session.send(pdu.response({ message_id: id }));
  const part = concat(pdu);
  emit({
    ev: "submit",
    id,
    dest: pdu.destination_addr,
    source: pdu.source_addr,
    data_coding: pdu.data_coding,
    registered_delivery: pdu.registered_delivery,
    part,
    text: text(pdu),
    outstanding,
  });
  reassemble(pdu, id);
  if (pdu.registered_delivery & 0x01) sendReceipt(pdu, id);
}

const server = smpp.createServer(tlsOptions, (session) => {
  let bound = false;
  session.setMaxListeners(0); // one "close" listener per receipt in flight (benchmarks: many)
  session.on("bind_transceiver", (pdu) => {
    const ok = pdu.system_id === systemId && pdu.password === password;
    const socket = session.socket;
    const peer = socket && socket.getPeerCertificate ? socket.getPeerCertificate() : null;
    emit({
      ev: "bind",
      system_id: pdu.system_id,
      ok,
      tls: Boolean(socket && socket.encrypted),
      client_cn: peer && peer.subject ? peer.subject.CN : null,
    });
    if (!ok) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    bound = true;
    sessions.add(session);
    session.send(pdu.response());
    setTimeout(flushReceipts, 10);
  });
  session.on("submit_sm", (pdu) => {
    if (!bound) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    onSubmit(session, pdu);
  });
  session.on("enquire_link", (pdu) => {
    emit({ ev: "enquire_link" });
    session.send(pdu.response());
  });
  session.on("unbind", (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  session.on("unbind_resp", () => emit({ ev: "unbind_resp" }));
  session.on("error", () => {});
  session.on("close", () => {
    session.closed = true;
    sessions.delete(session);
    emit({ ev: "closed" });
  });
});

function command(msg) {
  if (msg.cmd === "mo") {
    for (const session of sessions) {
      session.deliver_sm(
        { source_addr: msg.from, source_addr_ton: 1, destination_addr: msg.to || "Shop",
          short_message: msg.text },
        (resp) => emit({ ev: "mo_resp", from: msg.from, status: resp.command_status }),
      );
    }
  } else if (msg.cmd === "receipt") {
    receipts.set(msg.dest, msg.stat);
  } else if (msg.cmd === "fail") {
    for (let i = 0; i < (msg.count || 1); i++) failures.push(STATUS[msg.status]);
  } else if (msg.cmd === "drop_next") {
    dropAfter = msg.after || 0;
  } else if (msg.cmd === "delay") {
    delayMs = msg.ms || 0;
  } else if (msg.cmd === "unbind") {
    for (const session of sessions) session.unbind();
  } else if (msg.cmd === "kill") {
    for (const session of sessions) session.destroy();
  }
  emit({ ev: "ok", cmd: msg.cmd });
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim()) command(JSON.parse(line));
});
process.stdin.on("end", () => process.exit(0));
server.on("tlsClientError", (err) => emit({ ev: "tls_error", code: err.code || String(err) }));
server.listen(0, "127.0.0.1", () => emit({ ev: "listening", port: server.address().port }));
