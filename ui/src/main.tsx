// The Sluice web UI: a client of the admin API only (contract §8).
import { render } from 'preact';
import { App } from './app';
import { boot } from './state/session';
import './styles.css';

boot();
render(<App />, document.getElementById('app')!);
