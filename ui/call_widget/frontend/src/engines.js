// The two ways the widget holds a call. Each returns { hangUp, setMuted } once the call is being
// connected, and reports through `events`: connected(), ended(reason), failed(message),
// driver(text, final), agent(text), transcript(list), agentAudio(track), agentLevel(0..1).
import { PipecatClient } from "@pipecat-ai/client-js";
import { SmallWebRTCTransport } from "@pipecat-ai/small-webrtc-transport";
import { RetellWebClient } from "retell-client-js-sdk";
import { MicrophoneMediaManager } from "./microphone.js";

/** Pipecat: join our bot over SmallWebRTC through its runner (`POST /start`, then the offer). */
export async function startPipecat({ start_url: startUrl, session }, events) {
  const client = new PipecatClient({
    transport: new SmallWebRTCTransport({ mediaManager: new MicrophoneMediaManager() }),
    enableMic: true,
    enableCam: false,
    callbacks: {
      onBotReady: () => events.connected(),
      onDisconnected: () => events.ended("The call ended."),
      onBotDisconnected: () => events.ended("The agent ended the call."),
      // A non-fatal error (one reply the voice could not say) leaves the call going.
      onError: (message) => {
        if (message?.data?.fatal) events.failed(`The bot stopped the call: ${message.data.error}`);
        else console.warn("the bot reported an error", message?.data?.error);
      },
      onUserTranscript: (data) => events.driver(data.text, data.final),
      // What the bot's voice has spoken, as it is spoken (a sentence or a word at a time).
      onBotTtsText: (data) => events.agent(data.text),
      onTrackStarted: (track, participant) => {
        if (track.kind === "audio" && !participant?.local) events.agentAudio(track);
      },
    },
  });
  await client.initDevices();
  await client.startBotAndConnect({
    endpoint: startUrl,
    requestData: { body: { session } },
  });
  return {
    hangUp: () => client.disconnect(),
    setMuted: (muted) => client.enableMic(!muted),
  };
}

/** Retell web call: hand the access token to Retell's SDK at once (it expires in 30 s). */
export async function startRetell({ access_token: accessToken }, events) {
  const client = new RetellWebClient();
  let levelTimer = null;
  client.on("call_started", () => {
    events.connected();
    levelTimer = setInterval(() => events.agentLevel(client.analyzerComponent?.calculateVolume() ?? 0), 100);
  });
  client.on("call_ended", () => {
    clearInterval(levelTimer);
    events.ended("The call ended.");
  });
  client.on("update", (update) => events.transcript(update.transcript ?? []));
  client.on("error", (error) => {
    clearInterval(levelTimer);
    events.failed(`Retell could not start the call: ${error}`);
  });
  await client.startCall({ accessToken, emitRawAudioSamples: true });
  return {
    hangUp: () => client.stopCall(),
    setMuted: (muted) => (muted ? client.mute() : client.unmute()),
  };
}
