// The call widget: microphone, start / mute / hang up, level meters, timer, live captions.
// Streamlit renders it with the call the voice server started; it tells Streamlit when the call
// ended (which reruns the page to show the saved result), and nothing in between.
import "./style.css";
import { Captions } from "./captions.js";
import { startPipecat, startRetell } from "./engines.js";
import { followHeight, onRender, setComponentValue } from "./streamlit.js";

const ENGINES = { pipecat: startPipecat, retell: startRetell };
const root = document.getElementById("call");
const statusText = root.querySelector("[data-testid=call-status]");
const timer = root.querySelector("[data-testid=call-timer]");
const micLevel = root.querySelector("[data-testid=mic-level]");
const agentLevel = root.querySelector("[data-testid=agent-level]");
const buttons = {
  start: root.querySelector("[data-action=start]"),
  mute: root.querySelector("[data-action=mute]"),
  hangup: root.querySelector("[data-action=hangup]"),
};
const audio = new Audio();
audio.autoplay = true;

let call = null; // the call this widget holds, per call_id

function newCall(args) {
  return {
    args,
    state: "idle",
    session: null,
    microphone: null,
    connectedAt: null,
    endedAt: null,
    muted: false,
    hungUpByManager: false,
    agentMeter: null,
    captions: new Captions(root.querySelector("[data-testid=captions]")),
  };
}

function show(state, message) {
  call.state = state;
  root.dataset.state = state;
  statusText.textContent = message;
  buttons.start.disabled = !["idle", "blocked"].includes(state);
  buttons.mute.disabled = state !== "connected";
  buttons.hangup.disabled = !["connecting", "connected"].includes(state);
}

function report(value) {
  setComponentValue({ call_id: call.args.call_id, ...value });
}

const events = {
  connected() {
    if (call.state !== "connecting") return;
    call.connectedAt = performance.now();
    show("connected", "Connected: speak to the agent");
  },
  ended(reason) {
    if (!["connecting", "connected"].includes(call.state)) return;
    finish();
    const why = call.hungUpByManager ? "You hung up." : reason;
    show("ended", `Call ended. ${why}`);
    report({ state: "ended", reason: why, duration_secs: duration(), transcript: call.captions.transcript() });
  },
  failed(message) {
    if (["ended", "failed"].includes(call.state)) return;
    finish();
    show("failed", message);
    report({ state: "failed", reason: message, duration_secs: duration(), transcript: call.captions.transcript() });
  },
  driver: (text, final) => call.captions.driver(text, final),
  agent: (text) => call.captions.agent(text),
  transcript: (turns) => call.captions.replace(turns),
  agentAudio(track) {
    const stream = new MediaStream([track]);
    audio.srcObject = stream;
    audio.play().catch((error) => console.warn("the agent's audio cannot play yet", error));
    call.agentMeter?.stop();
    call.agentMeter = meter(stream, agentLevel, () => false);
  },
  agentLevel: (level) => (agentLevel.value = Math.min(1, level)),
};

function duration() {
  if (call.connectedAt === null) return 0;
  return Math.round(((call.endedAt ?? performance.now()) - call.connectedAt) / 100) / 10;
}

function finish() {
  call.endedAt = performance.now();
  call.microphone?.stop();
  call.agentMeter?.stop();
  audio.srcObject = null;
  try {
    call.session?.hangUp();
  } catch (error) {
    console.warn("hang-up failed", error);
  }
  micLevel.value = 0;
  agentLevel.value = 0;
}

async function start() {
  const current = call;
  show("asking", "Allow the microphone to start the call…");
  try {
    current.microphone = await listen();
  } catch (error) {
    show("blocked", `The microphone is not available (${error.name}): allow it for this site, then Start call.`);
    return;
  }
  if (current !== call) return current.microphone.stop();
  show("connecting", current.args.engine === "retell" ? "Connecting to Retell…" : "Connecting to the agent…");
  try {
    current.session = await ENGINES[current.args.engine](current.args, events);
  } catch (error) {
    if (current === call) events.failed(`Could not connect: ${error?.message ?? error}`);
    return;
  }
  if (current !== call || ["ended", "failed"].includes(current.state)) current.session.hangUp();
}

/** The microphone on its level meter; opening it first asks for permission before the call. */
async function listen() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const level = meter(stream, micLevel, () => call.muted);
  return {
    stop() {
      level.stop();
      stream.getTracks().forEach((track) => track.stop());
    },
  };
}

/** Shows a stream's loudness (RMS, 10 times a second) on a <meter>. */
function meter(stream, element, silenced) {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    const rms = Math.sqrt(samples.reduce((sum, s) => sum + s * s, 0) / samples.length);
    element.value = silenced() ? 0 : Math.min(1, rms * 4);
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      element.value = 0;
      context.close();
    },
  };
}

buttons.start.addEventListener("click", start);
buttons.hangup.addEventListener("click", () => {
  call.hungUpByManager = true;
  events.ended("You hung up.");
});
buttons.mute.addEventListener("click", () => {
  call.muted = !call.muted;
  call.session?.setMuted(call.muted);
  buttons.mute.textContent = call.muted ? "Unmute" : "Mute";
  buttons.mute.setAttribute("aria-pressed", String(call.muted));
});
setInterval(() => {
  const secs = Math.floor(duration());
  timer.textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")}`;
}, 250);

function applyTheme(theme) {
  if (!theme) return;
  const style = document.documentElement.style;
  style.setProperty("--primary", theme.primaryColor);
  style.setProperty("--background", theme.backgroundColor);
  style.setProperty("--panel", theme.secondaryBackgroundColor);
  style.setProperty("--text", theme.textColor);
  style.setProperty("--font", theme.font);
}

onRender((args, theme) => {
  applyTheme(theme);
  if (call?.args.call_id === args.call_id) return; // a rerun of the page: the call goes on
  if (call) {
    finish();
  }
  call = newCall(args);
  root.dataset.engine = args.engine;
  root.dataset.callId = args.call_id;
  call.captions.replace([]);
  buttons.mute.textContent = "Mute";
  timer.textContent = "0:00";
  show("idle", "Ready");
  if (args.autostart) start();
});
followHeight(root);
