import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { reportFirstPaint } from './lib/api';

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

const app = mount(App, { target });
// Two frames: the first callback runs before the paint, the second after it.
requestAnimationFrame(() => requestAnimationFrame(reportFirstPaint));

export default app;
