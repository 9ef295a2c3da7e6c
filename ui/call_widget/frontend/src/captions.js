// Live captions of both sides. Consecutive speech by one side is one line: the agent's line is
// the text its voice has spoken so far, the driver's line the final transcripts so far plus the
// one being heard.

export class Captions {
  constructor(list) {
    this.list = list;
    this.lines = [];
  }

  /** The driver's words: `final` ones stay, an interim one is replaced by the next. */
  driver(text, final) {
    const line = this.#open("user");
    line.interim = final ? "" : text;
    if (final && text.trim()) line.finals.push(text.trim());
    this.#render();
  }

  /** Words the agent's voice has just spoken. */
  agent(text) {
    const line = this.#open("agent");
    if (text.trim()) line.finals.push(text.trim());
    this.#render();
  }

  /** Retell sends the transcript itself: take it as it is. */
  replace(transcript) {
    this.lines = transcript
      .filter((turn) => turn.content)
      .map((turn) => ({
        role: turn.role === "agent" ? "agent" : "user",
        finals: [turn.content],
        interim: "",
      }));
    this.#render();
  }

  /** Both sides as the saved transcript would have them. */
  transcript() {
    return this.lines.map((line) => ({ role: line.role, content: textOf(line) })).filter((t) => t.content);
  }

  #open(role) {
    const last = this.lines.at(-1);
    if (last?.role === role) return last;
    const line = { role, finals: [], interim: "" };
    this.lines.push(line);
    return line;
  }

  #render() {
    const items = this.lines
      .filter((line) => textOf(line))
      .map((line) => {
        const item = document.createElement("li");
        item.className = `caption caption--${line.role}`;
        item.dataset.role = line.role;
        const who = document.createElement("strong");
        who.textContent = line.role === "agent" ? "Agent" : "Driver";
        const words = document.createElement("span");
        words.textContent = textOf(line);
        item.append(who, words);
        return item;
      });
    this.list.replaceChildren(...items);
    this.list.scrollTop = this.list.scrollHeight;
  }
}

function textOf(line) {
  return [...line.finals, line.interim].filter(Boolean).join(" ").replace(/\s+/g, " ").trim();
}
