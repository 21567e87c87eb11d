// The one-time token travels after '#' so no server log sees it; move it into the form.
document.addEventListener("DOMContentLoaded", () => {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) {
    document.getElementById("token").value = token;
    history.replaceState(null, "", location.pathname);
  }
});
