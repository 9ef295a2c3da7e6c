"""What the Streamlit pages share: cached Store queries, Plotly figures, CSV export, and the
voice-server client. Pages stay thin (read filters -> call a query here -> render)."""
