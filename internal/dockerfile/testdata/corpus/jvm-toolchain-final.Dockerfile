# JDK and Maven from another publisher than the official image, building
# in the final stage: the fix is a JRE, not a static image.
# want: toolchain-final
FROM registry.example.com/platform/jdk21-maven:3.9
WORKDIR /app
COPY pom.xml .
COPY src ./src
# want: cache-mount
# want: copy-before-deps
RUN mvn -q -B package -DskipTests
CMD ["java", "-jar", "target/app.jar"]
