"""Real servers for Ferry's tests, chosen in DESIGN.md's order.

1. a URL from the environment (``FERRY_TEST_AMQP_URL``, ``FERRY_TEST_MONGO_URL``,
   ``FERRY_TEST_S3_ENDPOINT``);
2. a testcontainers container when a Docker engine answers;
3. a local stand-in: the machine's RabbitMQ (a private vhost per test session),
   SecantusDB, moto's S3 server — each a real server on a real socket.
"""
