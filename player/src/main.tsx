import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import './styles.css';

// A server with a token is opened as …/?token=…; answering that request it set an HttpOnly cookie
// that every later request (fetch, hls.js, the WebSocket) carries. The token itself leaves the
// address bar, so it is not kept in history, bookmarks or a shared screen.
const here = new URL(location.href);
if (here.searchParams.has('token')) {
  here.searchParams.delete('token');
  history.replaceState(history.state, '', here.pathname + here.search + here.hash);
}

createRoot(document.getElementById('root')!).render(<App />);
