FROM python:3.11-slim
# One image for every process of the exchange; the compose file picks the command.

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STOCKSIM_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml alembic.ini ./
COPY shared ./shared
COPY user_service ./user_service
COPY trading_service ./trading_service
COPY stock_service ./stock_service
COPY devstack ./devstack
COPY migrations ./migrations
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app stocksim \
    && mkdir -p /data && chown stocksim /data

USER stocksim
EXPOSE 8001 8002 8003
CMD ["python", "-m", "devstack.prepare"]
