FROM python:3.12-slim
WORKDIR /app
COPY . /app
# want: cache-mount
# want: copy-before-deps
RUN pip install -r requirements.txt
CMD ["python", "app.py"]
