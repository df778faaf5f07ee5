// Case 2 of make bench: the framework's limit, a bare Express 5 route answering a 302.
const express = require('express');

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/:slug', (req, res) => {
  res.location('https://example.com/target').status(302).end();
});
const server = app.listen(Number(process.env.PORT));
server.keepAliveTimeout = 65_000;
