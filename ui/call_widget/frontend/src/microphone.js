// The SmallWebRTC transport's media manager, on the browser's own getUserMedia.
// The transport's default (DailyMediaManager) starts a Daily call object, which loads Daily's
// "call machine" bundle from its CDN: nothing may load from a CDN here, and no Daily account is
// involved in a peer-to-peer SmallWebRTC call. This one only opens the microphone.

export class MicrophoneMediaManager {
  constructor() {
    this._callbacks = {};
    this._micEnabled = true;
    this._stream = null;
    this._supportsScreenShare = false;
  }

  setClientOptions(options, override = false) {
    if (this._options && !override) return;
    this._options = options;
    this._callbacks = options.callbacks ?? {};
    this._micEnabled = options.enableMic ?? true;
  }

  setUserAudioCallback() {}

  get supportsScreenShare() {
    return false;
  }

  async initialize() {
    if (this._stream) return;
    this._stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this._applyMic();
    const mics = await this.getAllMics();
    this._callbacks.onAvailableMicsUpdated?.(mics);
    this._callbacks.onMicUpdated?.(this.selectedMic);
    this._callbacks.onTrackStarted?.(this._track(), { local: true, id: "local", name: "" });
  }

  async connect() {
    await this.initialize();
  }

  async disconnect() {
    this._stream?.getTracks().forEach((track) => track.stop());
    this._stream = null;
  }

  userStartedSpeaking() {}
  bufferBotAudio() {}

  async getAllMics() {
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audioinput");
  }
  async getAllCams() {
    return [];
  }
  async getAllSpeakers() {
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audiooutput");
  }
  updateMic() {}
  updateCam() {}
  updateSpeaker() {}

  get selectedMic() {
    const settings = this._track()?.getSettings();
    return settings ? { deviceId: settings.deviceId, kind: "audioinput", label: this._track().label } : {};
  }
  get selectedCam() {
    return {};
  }
  get selectedSpeaker() {
    return {};
  }

  enableMic(enable) {
    this._micEnabled = enable;
    this._applyMic();
  }
  enableCam() {}
  enableScreenShare() {}

  get isCamEnabled() {
    return false;
  }
  get isMicEnabled() {
    return this._micEnabled;
  }
  get isSharingScreen() {
    return false;
  }

  tracks() {
    return { local: { audio: this._track() } };
  }

  _track() {
    return this._stream?.getAudioTracks()[0];
  }

  _applyMic() {
    const track = this._track();
    if (track) track.enabled = this._micEnabled;
  }
}
