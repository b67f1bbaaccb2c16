mod property;
mod scenarios;
