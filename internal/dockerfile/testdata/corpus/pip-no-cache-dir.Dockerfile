FROM python:3.12-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# want: install-after-copy
RUN pip install --no-cache-dir gunicorn==22.0.0
