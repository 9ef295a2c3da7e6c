// Streamlit's custom-component protocol (v1, API version 1), spoken over postMessage.
// Small enough to keep here instead of pulling streamlit-component-lib and React.

function send(type, data = {}) {
  window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

/** Calls `render(args, theme)` on every render Streamlit sends, then says the component is ready. */
export function onRender(render) {
  window.addEventListener("message", (event) => {
    if (event.data?.type === "streamlit:render") render(event.data.args ?? {}, event.data.theme);
  });
  send("streamlit:componentReady", { apiVersion: 1 });
}

/** Hands a JSON value to the Python side (which reruns the page). */
export function setComponentValue(value) {
  send("streamlit:setComponentValue", { value, dataType: "json" });
}

/** Keeps the iframe as tall as the widget. */
export function followHeight(element) {
  let last = -1;
  const update = () => {
    const height = Math.ceil(element.getBoundingClientRect().height) + 8;
    if (height !== last) {
      last = height;
      send("streamlit:setFrameHeight", { height });
    }
  };
  new ResizeObserver(update).observe(element);
  update();
}
